package specs

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
)

var _ = BeforeSuite(func(ctx SpecContext) {
	Expect(framework.Setup(ctx)).To(Succeed())
	DeferCleanup(func() { Expect(framework.Teardown()).To(Succeed()) })
})

var _ = BeforeEach(framework.SpecStarted)

var _ = AfterEach(framework.SpecEnded)

var _ = ReportAfterSuite("conformance reports", func(r Report) {
	framework.Finish(r)
})

// s is the running suite.
func s() *framework.Suite { return framework.S() }
