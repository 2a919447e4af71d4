package reports

// Merge folds repeated runs of one scenario into one report for comparison: a check fails if
// it failed in any run (its evidence and counts added up), thresholds keep the worst outcome,
// and sample sets of the same name are pooled, so the noise model sees every run's samples,
// with each run's median kept in RunMedians for the run-to-run spread.
// The first report gives the scenario, target and times; Merge(r) is r itself.
func Merge(rs ...*Report) *Report {
	if len(rs) == 0 {
		return nil
	}
	if len(rs) == 1 {
		return rs[0]
	}
	out := *rs[0]
	out.Checks = nil
	out.Thresholds = nil
	out.Metrics = Metrics{}
	out.Notes = nil
	checks := map[string]int{}
	thresholds := map[string]int{}
	samples := map[string]int{}
	for _, r := range rs {
		if r.End.After(out.End) {
			out.End = r.End
		}
		if r.Verdict.ExitCode() > out.Verdict.ExitCode() {
			out.Verdict, out.ExitCode, out.Reason = r.Verdict, r.ExitCode, r.Reason
		}
		for _, c := range r.Checks {
			i, ok := checks[c.ID]
			if !ok {
				checks[c.ID] = len(out.Checks)
				c.Evidence = append([]Evidence(nil), c.Evidence...)
				out.Checks = append(out.Checks, c)
				continue
			}
			m := &out.Checks[i]
			m.Passes += c.Passes
			m.Fails += c.Fails
			m.Duration += c.Duration
			if c.Status == StatusFail && m.Status != StatusFail {
				m.Status, m.Message = StatusFail, c.Message
			} else if c.Status == StatusPass && m.Status == StatusSkip {
				m.Status = StatusPass
			}
			m.Evidence = append(m.Evidence, c.Evidence...)
		}
		for _, t := range r.Thresholds {
			key := t.Metric + " " + t.Expression
			i, ok := thresholds[key]
			if !ok {
				thresholds[key] = len(out.Thresholds)
				out.Thresholds = append(out.Thresholds, t)
			} else if !t.OK {
				out.Thresholds[i] = t
			}
		}
		for _, s := range r.Metrics.Samples {
			runMedians := s.RunMedians // a merged report stands for its runs
			if len(runMedians) == 0 && len(s.Values) > 0 {
				runMedians = []float64{Median(s.Values)}
			}
			i, ok := samples[s.Name]
			if !ok {
				samples[s.Name] = len(out.Metrics.Samples)
				s.Values = append([]float64(nil), s.Values...)
				s.RunMedians = append([]float64(nil), runMedians...)
				out.Metrics.Samples = append(out.Metrics.Samples, s)
				continue
			}
			m := &out.Metrics.Samples[i]
			m.Values = append(m.Values, s.Values...)
			m.RunMedians = append(m.RunMedians, runMedians...)
			m.Harness = m.Harness || s.Harness
		}
		out.Metrics.Jobs = append(out.Metrics.Jobs, r.Metrics.Jobs...)
		out.Notes = append(out.Notes, r.Notes...)
	}
	return &out
}
