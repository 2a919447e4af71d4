package specs

import (
	"crypto/rsa"
	"encoding/base64"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pushlab/pushlab/conformance/framework"
)

var _ = Describe("GET /pushy/config/NODE", L("api"), func() {
	// MUST: /pushy/config/ without a node name is 404 for every method.
	// Section: §2.1
	// Supersedes: config_spec.rb "GET/PUT/POST/DELETE /pushy/config/ → 404"
	DescribeTable("a config path without a node", func(method string) {
		r := s().Do(s().Who(framework.Admin), method, s().Pushy("config/"), "")
		Expect(r.Status).To(Equal(404), "reply %s", r)
	}, Entry("GET", "GET"), Entry("PUT", "PUT"), Entry("POST", "POST"), Entry("DELETE", "DELETE"))

	// MUST: config/NODE serves only GET: PUT, POST and DELETE are 405, decided before any
	// authentication (an unsigned request gets the 405 too).
	// Section: §2.1, §2.2
	// Supersedes: config_spec.rb "PUT/POST/DELETE /pushy/config/DONKEY → 405"
	DescribeTable("methods other than GET", func(method string, signed bool) {
		who := framework.Requestor{}
		if signed {
			who = s().Who(framework.Admin)
		}
		r := s().Do(who, method, s().Pushy("config/DONKEY"), "")
		Expect(r.Status).To(Equal(405), "reply %s", r)
	},
		Entry("PUT", "PUT", true), Entry("POST", "POST", true), Entry("DELETE", "DELETE", true),
		Entry("PUT unsigned", "PUT", false), Entry("POST unsigned", "POST", false), Entry("DELETE unsigned", "DELETE", false))

	// MUST: The config of a node has type "config", the host, out_addr and command_addr as
	// tcp://HOST:PORT on two ports, the node and org names, the server's PEM public key, a
	// 40-character CURVE key, the heartbeat interval in seconds, offline_threshold 3,
	// online_threshold 2, an hmac_sha256 session key of 32 bytes encrypted to the requestor's
	// key, lifetime 3600, max_message_skew 300, max_body_size and the server incarnation id.
	// Section: §2.9
	// Supersedes: config_spec.rb "GET /pushy/config/DONKEY as admin → 200 and body matches"
	It("describes the node's connection", L("smoke"), func() {
		admin := s().Who(framework.Admin)
		node := s().Name("DONKEY")
		r := s().Do(admin, "GET", s().Pushy("config/"+node)+"?ccpk="+ccpk+"&version=2.0", "")
		Expect(r.Status).To(Equal(200), "reply %s", r)
		Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"))
		var c map[string]any
		framework.DecodeJSON(r, &c)
		Expect(c).To(HaveKeyWithValue("type", "config"))
		Expect(c).To(HaveKeyWithValue("node", node))
		Expect(c).To(HaveKeyWithValue("organization", s().Target.Org()))
		host, _ := c["host"].(string)
		Expect(host).NotTo(BeEmpty())
		hb := c["push_jobs"].(map[string]any)["heartbeat"].(map[string]any)
		Expect(hb["out_addr"]).To(MatchRegexp(`^tcp://` + regexp.QuoteMeta(host) + `:\d+$`))
		Expect(hb["command_addr"]).To(MatchRegexp(`^tcp://` + regexp.QuoteMeta(host) + `:\d+$`))
		Expect(hb["out_addr"]).NotTo(Equal(hb["command_addr"]))
		Expect(hb["interval"]).To(BeNumerically("~", s().Timings.Heartbeat.Seconds(), 1e-9))
		Expect(hb["offline_threshold"]).To(BeEquivalentTo(3))
		Expect(hb["online_threshold"]).To(BeEquivalentTo(2))
		Expect(c["public_key"]).To(HavePrefix("-----BEGIN PUBLIC KEY-----"))
		Expect(c["curve_public_key"]).To(HaveLen(40))
		Expect(c["lifetime"]).To(BeEquivalentTo(3600))
		Expect(c["max_message_skew"]).To(BeEquivalentTo(300))
		Expect(c["max_body_size"]).To(BeNumerically(">", 0))
		Expect(c["incarnation_id"]).NotTo(BeEmpty())
		esk := c["encoded_session_key"].(map[string]any)
		Expect(esk["method"]).To(Equal("hmac_sha256"))
		Expect(sessionKey(admin.Key, esk["key"].(string))).To(HaveLen(32))
	})

	// MUST: The session key of a node is kept: fetched again, by another requestor, it is the
	// same 32 bytes, each time encrypted to the requestor's own key.
	// Section: §2.9
	// Supersedes: none (new in this suite)
	It("keeps one session key per node", func() {
		node := s().Name("DONKEY")
		get := func(role framework.Role) []byte {
			who := s().Who(role)
			r := s().Do(who, "GET", s().Pushy("config/"+node)+"?ccpk="+ccpk, "")
			Expect(r.Status).To(Equal(200), "reply %s", r)
			var c struct {
				ESK struct{ Key string } `json:"encoded_session_key"`
			}
			framework.DecodeJSON(r, &c)
			return sessionKey(who.Key, c.ESK.Key)
		}
		first := get(framework.Admin)
		Expect(get(framework.Admin)).To(Equal(first))
		Expect(get(framework.NormalUser)).To(Equal(first))
	})

	// MUST: The incarnation id in the config is the server's: the same as /pushy/_status shows.
	// Section: §2.9, §2.10
	// Supersedes: config_spec.rb "incarnation_id present"
	It("carries the server's incarnation id", func() {
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("config/"+s().Name("DONKEY"))+"?ccpk="+ccpk, "")
		var c struct {
			Inc string `json:"incarnation_id"`
		}
		framework.DecodeJSON(r, &c)
		st := s().Do(framework.Requestor{}, "GET", "/pushy/_status", "")
		var status struct {
			Inc string `json:"incarnation_id"`
		}
		framework.DecodeJSON(st, &status)
		Expect(c.Inc).To(Equal(status.Inc))
	})

	// MUST: A config request without ccpk is 400 {"error":["Missing ccpk"]}; a ccpk that is not
	// 40 characters long is 401 {"error":["Bad ccpk"]}.
	// Section: §2.9
	// Supersedes: none (new in this suite)
	DescribeTable("the CURVE key parameter", func(query string, status int, msg string) {
		r := s().Do(s().Who(framework.Admin), "GET", s().Pushy("config/"+s().Name("DONKEY"))+query, "")
		framework.ExpectStatus(r, status, framework.ErrorArray(msg))
	},
		Entry("missing", "", 400, "Missing ccpk"),
		Entry("missing, other parameters given", "?version=2.0", 400, "Missing ccpk"),
		Entry("too short", "?ccpk=short", 401, "Bad ccpk"),
		Entry("too long", "?ccpk="+strings.Repeat("0", 41), 401, "Bad ccpk"))

	// MUST: Without pushy groups, the org admin and a normal member user may fetch any node's
	// config and a client may fetch its own; an unknown user and a client with a bogus key get
	// 401, a user outside the org 403 "not associated", and a client asking for another node's
	// config 403 "Client and node name must match".
	// Section: §2.3, §2.9
	// Supersedes: config_spec.rb "Access: admin 200; normal user 200; client own name 200; invalid user 401; outside user 403; bogus client 401; other node 403"
	DescribeTable("who may fetch a config", func(a access, ownName bool) {
		node := "DONKEY"
		if ownName {
			node = s().Who(a.role).Name
		}
		a.check("GET", s().Pushy("config/"+node)+"?ccpk="+ccpk, "")
	},
		Entry("the admin user", allowed(framework.Admin, 200), false),
		Entry("a normal user", allowed(framework.NormalUser, 200), false),
		Entry("a client, its own config", allowed(framework.NormalClient, 200), true),
		Entry("an invalid user", unknown(framework.InvalidUser), false),
		Entry("an outside user", outside(framework.OutsideUser), false),
		Entry("a client with a bogus key", unknown(framework.BadClient), false),
		Entry("a client, another node's config", access{framework.NormalClient, 403, func(framework.Requestor) string {
			return framework.ErrorArray("Client and node name must match")
		}}, false))

	// MUST: A config request for an organization that does not exist is 404
	// {"error":["organization 'ORG' does not exist."]}.
	// Section: §2.2
	// Supersedes: config_spec.rb "Bogus org → 404"
	It("is 404 in an organization that does not exist", func() {
		org, body := bogusOrg()
		r := s().Do(s().Who(framework.Admin), "GET", "/organizations/"+org+"/pushy/config/DONKEY?ccpk="+ccpk, "")
		framework.ExpectStatus(r, 404, body)
	})
})

// sessionKey decrypts an encoded session key with the requestor's private key.
func sessionKey(k *rsa.PrivateKey, b64 string) []byte {
	GinkgoHelper()
	enc, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	Expect(err).NotTo(HaveOccurred(), "session key base64")
	key, err := rsa.DecryptPKCS1v15(nil, k, enc)
	Expect(err).NotTo(HaveOccurred(), "decrypting the session key with the requestor's key")
	return key
}
