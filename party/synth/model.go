package synth

import (
	"math"
	"math/rand/v2"
	"slices"
)

// AgeBands are the insurer's age bands, the confounder of the world.
var AgeBands = []string{"18-29", "30-44", "45-64", "65+"}

// PregnantLevels are the levels of the insurer's column pregnant.
var PregnantLevels = []string{"no", "yes"}

// CategoryModel is how one purchase category's annual spend is drawn.
// A person buys in the category with probability Participation[band]; if
// so, the spend in dollars is
//
//	Median · exp(AgeLog[band] + Basket·u + Health·h + Sigma·ε)
//
// with u (overall basket size), h (health consciousness) and ε standard
// normal, rounded to cents and capped at Cap.
type CategoryModel struct {
	Name          string     `json:"name"`
	Participation [4]float64 `json:"participation"`
	// ParticipationPregnant, when positive, replaces Participation[band]
	// for a person pregnant during the year.
	ParticipationPregnant float64    `json:"participation_pregnant,omitempty"`
	Median                float64    `json:"median"`
	AgeLog                [4]float64 `json:"age_log"`
	Basket                float64    `json:"basket"`
	Health                float64    `json:"health"`
	Sigma                 float64    `json:"sigma"`
	// Cap is the largest spend written; [0, Cap] is a safe declared bound.
	Cap float64 `json:"cap"`
}

// Effect is a planted effect of a category's spend on a claim type.
type Effect struct {
	Category string `json:"category"`
	// Beta multiplies log(1 + spend/Median) in the log claim rate: at the
	// category's median spend the rate is 2^Beta times that of a person
	// who does not buy in the category.
	Beta float64 `json:"beta"`
	Note string  `json:"note,omitempty"`
}

// ClaimModel is how one claim type's count is drawn: Poisson with mean
//
//	exposure_months/12 · Rate · exp(AgeLog[band] + Σ Beta·log(1 + spend/Median))
type ClaimModel struct {
	Name    string     `json:"name"`
	Rate    float64    `json:"rate_per_year"`
	AgeLog  [4]float64 `json:"age_log"`
	Effects []Effect   `json:"effects"`
}

// Model is the full generative model; truth.json records it.
type Model struct {
	AgeBands  []string   `json:"age_bands"`
	AgeShares [4]float64 `json:"age_shares"`
	// OptOut is the share of each side's records without research consent
	// (column consent), drawn independently per side.
	OptOut float64 `json:"opt_out"`
	// MarketingConsent is the chance that a record consents to marketing
	// (column consent_marketing), for a record without research consent
	// ([0]) and one with it ([1]), drawn independently per side.
	MarketingConsent [2]float64 `json:"marketing_consent"`
	FullYear         float64    `json:"full_year_share"`
	// Pregnancy is the share of people pregnant during the year by age
	// band: the insurer's protected column pregnant.
	Pregnancy [4]float64      `json:"pregnancy"`
	Spend     []CategoryModel `json:"categories"`
	// ProxyCheck are retailer spend categories planted for the
	// anti-discrimination proxy check, written after Spend: a strong
	// proxy of pregnancy and one unrelated to any protected column. They
	// have no effect on claims and are not in the research statistics
	// (pairs, quartiles); truth.json's associations cover them.
	ProxyCheck []CategoryModel `json:"proxy_check_categories"`
	Claims     []ClaimModel    `json:"claims"`
}

// Categories are Spend followed by ProxyCheck: every spend column of the
// retailer, in file order.
func (m *Model) Categories() []CategoryModel {
	return append(slices.Clip(m.Spend), m.ProxyCheck...)
}

// DefaultModel is the world jointly gen writes. Pharmacy spend has no
// effect on any claim but rises with age, as most claims do: its
// correlation with claims is pure confounding by age band and vanishes
// within a band. hiv_related has no planted effect at all. Prenatal spend
// is a strong proxy of pregnancy, baby spend a weaker one (and a proxy of
// age band), stationery spend unrelated to either.
func DefaultModel() Model {
	cat := func(name string, part [4]float64, median float64, ageLog [4]float64, health, sigma float64) CategoryModel {
		return CategoryModel{Name: name, Participation: part, Median: median, AgeLog: ageLog,
			Basket: 0.3, Health: health, Sigma: sigma, Cap: math.Round(median * 25)}
	}
	pregnant := func(c CategoryModel, part float64) CategoryModel {
		c.ParticipationPregnant = part
		return c
	}
	return Model{
		AgeBands:  AgeBands,
		AgeShares: [4]float64{0.20, 0.30, 0.32, 0.18},
		OptOut:    0.08,
		// Marketing consent mostly comes with research consent: about
		// 56 % of records, nearly all of them among the research-consenting.
		MarketingConsent: [2]float64{0.10, 0.60},
		FullYear:         0.75,
		Pregnancy:        [4]float64{0.08, 0.06, 0.005, 0},
		Spend: []CategoryModel{
			cat("fresh_produce", [4]float64{0.90, 0.95, 0.96, 0.96}, 600, [4]float64{-0.2, 0.1, 0.1, 0}, 0.35, 0.6),
			cat("snacks", [4]float64{0.92, 0.88, 0.82, 0.70}, 250, [4]float64{0.2, 0.1, 0, -0.3}, -0.25, 0.7),
			cat("diet_aids", [4]float64{0.15, 0.25, 0.35, 0.30}, 120, [4]float64{-0.2, 0, 0.2, 0.1}, 0.05, 0.8),
			cat("alcohol", [4]float64{0.65, 0.65, 0.60, 0.45}, 400, [4]float64{0.1, 0.1, 0, -0.3}, -0.15, 0.9),
			cat("tobacco", [4]float64{0.20, 0.17, 0.15, 0.10}, 900, [4]float64{-0.2, 0, 0.1, 0}, -0.3, 0.6),
			cat("sunscreen", [4]float64{0.50, 0.50, 0.45, 0.35}, 40, [4]float64{0.1, 0.1, 0, -0.2}, 0.2, 0.7),
			cat("sugary_drinks", [4]float64{0.75, 0.65, 0.55, 0.45}, 180, [4]float64{0.3, 0.1, -0.1, -0.3}, -0.35, 0.8),
			cat("whole_grains", [4]float64{0.50, 0.60, 0.65, 0.65}, 150, [4]float64{-0.2, 0, 0.1, 0.1}, 0.4, 0.6),
			cat("frozen_meals", [4]float64{0.80, 0.70, 0.65, 0.70}, 300, [4]float64{0.2, 0, -0.1, 0.1}, -0.2, 0.7),
			pregnant(cat("baby", [4]float64{0.25, 0.35, 0.08, 0.02}, 800, [4]float64{0, 0.1, -0.2, -0.5}, 0, 0.6), 0.60),
			cat("pet_food", [4]float64{0.25, 0.35, 0.40, 0.35}, 350, [4]float64{-0.1, 0, 0.1, 0}, 0, 0.6),
			cat("pharmacy", [4]float64{0.50, 0.65, 0.80, 0.92}, 250, [4]float64{-0.6, -0.2, 0.3, 0.8}, 0, 0.7),
			cat("prophylactics", [4]float64{0.45, 0.30, 0.15, 0.05}, 60, [4]float64{0.1, 0, -0.1, -0.3}, 0.1, 0.6),
			cat("dairy", [4]float64{0.88, 0.92, 0.92, 0.92}, 350, [4]float64{-0.1, 0.1, 0, 0}, 0.05, 0.5),
			cat("bakery", [4]float64{0.85, 0.88, 0.88, 0.90}, 220, [4]float64{-0.1, 0, 0.05, 0.1}, -0.05, 0.5),
			cat("household", [4]float64{0.90, 0.96, 0.96, 0.95}, 450, [4]float64{-0.3, 0.1, 0.1, 0}, 0, 0.5),
		},
		ProxyCheck: []CategoryModel{
			// Prenatal vitamins and maternity wear.
			pregnant(cat("prenatal", [4]float64{0.02, 0.02, 0.01, 0.005}, 150, [4]float64{}, 0.1, 0.5), 0.85),
			cat("stationery", [4]float64{0.50, 0.50, 0.50, 0.50}, 60, [4]float64{}, 0, 0.7),
		},
		Claims: []ClaimModel{
			{Name: "diabetes", Rate: 0.10, AgeLog: [4]float64{-0.9, 0, 0.8, 1.2}, Effects: []Effect{
				{Category: "diet_aids", Beta: 0.9, Note: "diet aids are bought by people at risk"},
				{Category: "sugary_drinks", Beta: 0.7},
			}},
			{Name: "cardiovascular", Rate: 0.06, AgeLog: [4]float64{-1.4, 0, 1.0, 1.7}, Effects: []Effect{
				{Category: "tobacco", Beta: 0.6},
				{Category: "fresh_produce", Beta: -0.4, Note: "protective"},
				{Category: "whole_grains", Beta: -0.3, Note: "protective"},
			}},
			{Name: "liver", Rate: 0.03, AgeLog: [4]float64{-0.6, 0, 0.5, 0.6}, Effects: []Effect{
				{Category: "alcohol", Beta: 1.0},
			}},
			{Name: "skin_cancer", Rate: 0.03, AgeLog: [4]float64{-1.2, 0, 0.8, 1.4}, Effects: []Effect{
				{Category: "sunscreen", Beta: 0.8, Note: "sunscreen marks sun exposure; an association, not a cause"},
			}},
			{Name: "respiratory", Rate: 0.10, AgeLog: [4]float64{0.1, 0, 0.2, 0.6}, Effects: []Effect{
				{Category: "tobacco", Beta: 0.9},
			}},
			{Name: "hiv_related", Rate: 0.01, AgeLog: [4]float64{0.3, 0.4, 0, -0.8}},
		},
	}
}

// world is a Model compiled for fast sampling.
type world struct {
	m        Model
	cats     []CategoryModel // Spend, then ProxyCheck
	seed     uint64
	ageCum   [4]float64
	logMed   []float64
	capCents []int64
	effects  [][]compiledEffect // per claim type
}

type compiledEffect struct {
	cat    int
	beta   float64
	invMed float64
}

func newWorld(m Model, seed uint64) *world {
	w := &world{m: m, cats: m.Categories(), seed: seed}
	acc := 0.0
	for i, s := range m.AgeShares {
		acc += s
		w.ageCum[i] = acc
	}
	idx := map[string]int{}
	for i, c := range w.cats {
		idx[c.Name] = i
		w.logMed = append(w.logMed, math.Log(c.Median))
		w.capCents = append(w.capCents, int64(math.Round(c.Cap*100)))
	}
	for _, cl := range m.Claims {
		var ce []compiledEffect
		for _, e := range cl.Effects {
			k := idx[e.Category]
			ce = append(ce, compiledEffect{cat: k, beta: e.Beta, invMed: 1 / w.cats[k].Median})
		}
		w.effects = append(w.effects, ce)
	}
	return w
}

// Streams: every person's traits come from their own PCG stream, so the
// retailer and the insurer agree on a shared person without talking, and
// each side's noise and consent come from separate streams. What a side
// records beyond its original columns (marketing consent, a missing phone,
// a changed e-mail) comes from a stream of its own, so the original
// columns keep their values whatever the identifier noise.
const (
	streamPerson         = 1
	streamRetailer       = 2
	streamInsurer        = 3
	streamRetailerRecord = 4
	streamInsurerRecord  = 5
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng is a reseedable generator.
type rng struct {
	pcg *rand.PCG
	*rand.Rand
}

func newRNG() rng {
	p := rand.NewPCG(0, 0)
	return rng{pcg: p, Rand: rand.New(p)}
}

func (r rng) reset(seed, stream, person uint64) {
	r.pcg.Seed(splitmix(seed^splitmix(stream)), splitmix(person+stream<<56))
}

// person is what both sides know of one individual. Spend is drawn in
// full but exponentiated lazily: the insurer needs only the categories
// with a planted effect for most people.
type person struct {
	band                int
	pregnant            bool
	logv                []float64 // log of spend in cents; NaN: does not buy
	cents               []int64   // annual spend per category, in cents; -1: not yet computed
	part                []float64 // the uniform deciding participation, per category
	first, last, domain int
	emailNum            uint32
}

func newPerson(w *world) *person {
	n := len(w.cats)
	return &person{logv: make([]float64, n), cents: make([]int64, n), part: make([]float64, n)}
}

// person draws person p's traits. The draws of the proxy-check model
// (pregnancy, then the ProxyCheck categories) follow all others, so the
// traits of the research model keep their values; participation is
// decided once pregnancy is known.
func (w *world) person(r rng, p uint64, out *person) {
	r.reset(w.seed, streamPerson, p)
	u := r.Float64()
	out.band = 3
	for i, c := range w.ageCum {
		if u < c {
			out.band = i
			break
		}
	}
	basket, health := r.NormFloat64(), r.NormFloat64()
	ns := len(w.m.Spend)
	w.draw(r, out, 0, ns, basket, health)
	out.first = r.IntN(len(firstNames))
	out.last = r.IntN(len(lastNames))
	out.domain = r.IntN(len(domains))
	// An odd multiplier is a bijection on 32 bits: e-mail numbers are
	// unique for the first 2^32 persons.
	out.emailNum = uint32(p)*2654435761 + 1013904223
	out.pregnant = r.Float64() < w.m.Pregnancy[out.band]
	w.draw(r, out, ns, len(w.cats), basket, health)
	for i := range w.cats {
		c := &w.cats[i]
		share := c.Participation[out.band]
		if out.pregnant && c.ParticipationPregnant > 0 {
			share = c.ParticipationPregnant
		}
		if out.part[i] >= share {
			out.logv[i] = math.NaN()
		}
	}
}

// draw draws categories [from, to): the participation uniform, then the
// log spend, whether or not the person buys.
func (w *world) draw(r rng, out *person, from, to int, basket, health float64) {
	for i := from; i < to; i++ {
		c := &w.cats[i]
		out.part[i] = r.Float64()
		eps := r.NormFloat64()
		out.cents[i] = -1
		out.logv[i] = w.logMed[i] + c.AgeLog[out.band] + c.Basket*basket + c.Health*health + c.Sigma*eps + logHundred
	}
}

var logHundred = math.Log(100)

// spend is the annual spend in category i, in cents.
func (w *world) spend(pr *person, i int) int64 {
	if c := pr.cents[i]; c >= 0 {
		return c
	}
	var cents int64
	if lv := pr.logv[i]; !math.IsNaN(lv) {
		cents = max(1, min(int64(math.Round(math.Exp(lv))), w.capCents[i]))
	}
	pr.cents[i] = cents
	return cents
}

// fill computes every category's spend.
func (w *world) fill(pr *person) {
	for i := range pr.cents {
		w.spend(pr, i)
	}
}

// claims draws one policy's claim counts.
func (w *world) claims(r rng, pr *person, exposure int, out []int) {
	for t := range w.m.Claims {
		cl := &w.m.Claims[t]
		lg := cl.AgeLog[pr.band]
		for _, e := range w.effects[t] {
			x := float64(w.spend(pr, e.cat)) / 100
			lg += e.beta * math.Log1p(x*e.invMed)
		}
		out[t] = poisson(r, float64(exposure)/12*cl.Rate*math.Exp(lg))
	}
}

// poisson uses Knuth's product method, fine for the small means here.
func poisson(r rng, mean float64) int {
	if mean > 30 {
		mean = 30
	}
	l := math.Exp(-mean)
	k, p := 0, r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

var (
	firstNames = []string{"james", "mary", "robert", "patricia", "john", "jennifer", "michael", "linda",
		"david", "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas",
		"sarah", "carlos", "karen", "daniel", "lisa", "matthew", "nancy", "anthony", "betty", "mark",
		"sandra", "wei", "ashley", "priya", "kimberly", "ahmed", "emily", "jose", "donna", "kenji",
		"michelle", "olga", "amara"}
	lastNames = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis",
		"rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas",
		"taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris",
		"sanchez", "clark", "ramirez", "lewis", "robinson", "nguyen", "patel", "kim", "chen", "okafor",
		"kowalski", "schmidt", "rossi", "tanaka", "silva"}
	domains = []string{"example.com", "example.org", "example.net", "mail.example.com", "post.example.org"}
	// otherDomains hold people's second addresses; no first address uses them.
	otherDomains = []string{"inbox.example.net", "work.example.com", "home.example.org", "new.example.net"}
	areaCodes    = []string{"212", "312", "415", "617", "206", "303", "404", "512", "602", "713", "305",
		"503", "612", "702", "214", "818", "215", "720", "718", "646", "202", "510", "619", "971"}
)
