package good

var _ = Describe("Outer", func() {
	// MUST: A thing holds,
	// over two lines.
	// Section: §2.5, §3
	// Supersedes: jobs_spec.rb "a case"
	It("does a thing", func() {})

	Context("inner", func() {
		// MUST: Each entry holds.
		// Section: §6
		// Supersedes: none (new in this suite)
		DescribeTable("a table", func(x int) {}, Entry("one", 1), Entry("two", 2))
	})
})
