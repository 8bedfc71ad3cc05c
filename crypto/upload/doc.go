// Package upload is the seeded-upload protocol of a joint query
// (docs/architecture.md, "Encoding and statistics"): a data owner's compact
// upload of its columns, the evaluating node's plaintext × ciphertext
// evaluation with one Trace per statistic (or one pack per level), the
// pooling of sessions, the public noise bound that sets the key-switch
// flooding, and the decoding of the querier's plaintexts.
//
// Flow of one session, both data owners holding the same Circuit and
// PlanConfig (public), a jointly tossed SeedSize-byte seed, their own secret
// key share, the collective public key and the Trace Galois keys:
//
//	plan, _ := upload.NewPlan(params, circuit, cfg)   // same on both sides
//
//	// data owner (uploader): columns laid out in union order
//	up, _ := upload.NewUploader(plan, skShare, seed)
//	up.Upload(ctx, c, col, 0, func(b *upload.Block) error { /* b.MarshalBinary, stream */ })
//
//	// evaluating node: its multipliers laid out in union order
//	ev, _ := upload.NewEvaluator(plan, skShare, cpk, evk, seed, multipliers)
//	sums, _ := ev.Evaluate(ctx, blocks, 0)     // or NewAccumulator/Add/Sum
//	packs, _ := sums.Pack(ctx, products)       // one ciphertext per level
//	// each party floods its key-switch share of every pack
//
//	// querier, after decryption of every pack
//	stats, _ := plan.DecodePacked(packs, plaintexts)
//
// A statistic is a named sum of products Σ_i m_i·c_i of an evaluator
// multiplier and an uploaded column (BivariateCircuit gives n, Σx, Σy, Σx²,
// Σy², Σxy); group-bys use Indicator multipliers, regressions enumerate the
// pairs of XᵀX and Xᵀy (PairStats). Wide multipliers are split into digits
// by the plan; a square too wide for one uploaded column is uploaded as two
// digit columns (SplitSquare) that the plan and the decoders treat the same
// way (Stat.Digits). NOISE.md derives the bound (henoise.go) and the planner
// (plan.go) of the homomorphic-encryption noise.
//
// It is a pure library over the crypto package: it never opens a network
// connection and never logs. Errors name columns, blocks and sizes, never a
// value or a key.
package upload
