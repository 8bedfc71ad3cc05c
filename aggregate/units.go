package aggregate

import (
	"fmt"
	"strings"
)

// Units of a rate: the exposure column declares the unit of its values
// (ColumnInfo.Unit) and a rate is reported per the time unit the query
// asks (RateRequest.Per), per year by default.

// DefaultPer is the time unit a rate is reported per when its request
// names none and its exposure declares a time unit.
const DefaultPer = "year"

// timeUnits are the time units an exposure may be declared in and a rate
// reported per, by their length in days (a year of 365.25 days, a month a
// twelfth of it).
var timeUnits = map[string]float64{"day": 1, "week": 7, "month": 365.25 / 12, "year": 365.25}

// TimeUnit returns the singular name of a time unit written in the
// singular or the plural, in any case ("Months" → "month"), and whether it
// is one of day, week, month and year.
func TimeUnit(u string) (string, bool) {
	u = strings.ToLower(strings.TrimSpace(u))
	if _, ok := timeUnits[u]; ok {
		return u, true
	}
	if s := strings.TrimSuffix(u, "s"); s != u {
		if _, ok := timeUnits[s]; ok {
			return s, true
		}
	}
	return "", false
}

// ratePer returns the factor that turns events per unit of exposure into
// events per the unit a rate is reported per, and that unit (Cell.Per):
//
//   - an exposure in a time unit is reported per per (DefaultPer when
//     empty), which must be a time unit: months per year is a factor 12;
//   - an exposure in another unit is reported per that unit, and per must
//     be empty or name it;
//   - an exposure without a unit is reported per unit of exposure, Per
//     empty, and per must be empty.
//
// Errors name the exposure column.
func ratePer(exposure ColumnInfo, per string) (float64, string, error) {
	if exposure.Unit == "" {
		if per != "" {
			return 0, "", fmt.Errorf("a rate per %s needs the unit of exposure %q, which its owner does not declare", per, exposure.Ref)
		}
		return 1, "", nil
	}
	from, isTime := TimeUnit(exposure.Unit)
	if !isTime {
		if per != "" && !strings.EqualFold(strings.TrimSpace(per), exposure.Unit) {
			return 0, "", fmt.Errorf("exposure %q is in %s, not a unit of time: a rate by it is per %s, not per %s", exposure.Ref, exposure.Unit, exposure.Unit, per)
		}
		return 1, exposure.Unit, nil
	}
	if per == "" {
		per = DefaultPer
	}
	to, ok := TimeUnit(per)
	if !ok {
		return 0, "", fmt.Errorf("a rate is per day, week, month or year, not per %q (exposure %q is in %s)", per, exposure.Ref, exposure.Unit)
	}
	return timeUnits[to] / timeUnits[from], to, nil
}
