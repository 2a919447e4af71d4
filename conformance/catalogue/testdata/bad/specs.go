package bad

var _ = Describe("Outer", func() {
	It("has no comment", func() {})

	// MUST: Something.
	// Supersedes: none
	It("has no section", func() {})

	// MUST: Something.
	// Section: 2.5
	// Supersedes: none
	It("has a section without §", func() {})

	name := "computed"
	// MUST: x
	// Section: §1
	// Supersedes: none
	It(name, func() {})

	// MUST: Once.
	// Section: §1
	// Supersedes: none
	It("twice", func() {})

	// MUST: Twice.
	// Section: §1
	// Supersedes: none
	It("twice", func() {})
})
