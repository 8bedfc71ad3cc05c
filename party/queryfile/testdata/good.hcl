purpose = "research"
exact   = true

correlation {
  x = ["node0.spend_diet_aids", "node0.spend_alcohol"]
  y = ["node1.claims_diabetes", "node1.claims_liver"]
}

rate {
  events   = "node1.claims_diabetes"
  exposure = "node1.exposure_months"
  by       = "node0.spend_diet_aids"
  buckets  = [50, 200]
}

regression {
  outcome    = "node1.claims_diabetes"
  predictors = ["node0.spend_diet_aids", "node0.spend_alcohol"]
}

contingency {
  x         = "node0.spend_diet_aids"
  x_buckets = [50]
  y         = "node1.claims_diabetes"
  y_buckets = [1, 2]
}
