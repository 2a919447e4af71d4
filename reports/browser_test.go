package reports

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// chromium finds a headless-capable Chromium. Without one the browser tests skip, except in CI
// (CI=true), where a missing browser is a failure: Debian installs it with apt-get install chromium.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); the HTML report must be checked in a browser in CI")
	}
	t.Skip("chromium is not installed (apt-get install -y chromium)")
	return ""
}

// runChromium runs a headless Chromium with its own profile and returns what it printed on stdout.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-extensions", "--disable-background-networking", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

func writeReportPage(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.html")
	if err := sampleReport().Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestHTMLRendersInBrowser loads the report in headless Chromium and looks at the DOM it built:
// the verdict, every plot with its series, the checks; with scripts on, the script ran (and the
// page's CSP let it); with scripts off, everything but the toolbar is still there.
func TestHTMLRendersInBrowser(t *testing.T) {
	bin := chromium(t)
	page := writeReportPage(t)
	url := "file://" + page

	// The same page with a policy that blocks its script, as a browser with scripts off would.
	raw, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	blocked := strings.Replace(string(raw), "script-src &#39;unsafe-inline&#39;", "script-src &#39;none&#39;", 1)
	if blocked == string(raw) {
		t.Fatal("the page's CSP has no script-src to block")
	}
	noScript := filepath.Join(t.TempDir(), "report-noscript.html")
	if err := os.WriteFile(noScript, []byte(blocked), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, js := range []bool{true, false} {
		name, target := "script-on", url
		if !js {
			name, target = "script-off", "file://"+noScript
		}
		t.Run(name, func(t *testing.T) {
			dom := runChromium(t, bin, "--dump-dom", target)
			doc, err := html.Parse(bytes.NewReader(dom))
			if err != nil {
				t.Fatal(err)
			}
			v := findAll(doc, byID("verdict-word"))
			if len(v) != 1 || textOf(v[0]) != "FAIL" {
				t.Fatalf("verdict not rendered; DOM starts %.300q", dom)
			}
			plots := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "plot") })
			if len(plots) != 6 {
				t.Errorf("%d svg plots in the DOM, want 6", len(plots))
			}
			ns := plotOf(t, doc, "node-states")
			if n := len(findAll(ns, func(n *html.Node) bool { return n.Data == "path" && hasClass(n, "series") })); n != 4 {
				t.Errorf("node states: %d series in the DOM", n)
			}
			if n := len(findAll(ns, func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "band") })); n != 2 {
				t.Errorf("node states: %d fault bands in the DOM", n)
			}
			if n := len(findAll(plotOf(t, doc, "latency-total"), func(n *html.Node) bool { return n.Data == "rect" && hasClass(n, "bar") })); n == 0 {
				t.Error("latency histogram has no bars in the DOM")
			}
			rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "check") })
			if len(rows) != 5 || !strings.Contains(textOf(rows[0]), "node-0042") {
				t.Errorf("checks table: %d rows", len(rows))
			}
			htmlEl := findAll(doc, byTag("html"))[0]
			toolbar := findAll(doc, byID("check-toolbar"))
			if js {
				if attr(htmlEl, "data-js") != "on" || len(toolbar) != 1 || len(findAll(toolbar[0], byTag("button"))) != 3 {
					t.Error("the page's script did not run")
				}
			} else if attr(htmlEl, "data-js") != "" || len(toolbar) != 0 {
				t.Error("script ran although scripts were off")
			}
		})
	}

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "report.png")
		runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,2400", "--hide-scrollbars", url)
		f, err := os.Open(shot)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatalf("screenshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
			t.Errorf("screenshot is %v", b)
		}
		if st.Size() < 30_000 {
			t.Errorf("screenshot is only %d bytes: the page rendered (nearly) blank", st.Size())
		}
		if n := distinctColours(img, 200); n < 20 {
			t.Errorf("screenshot has %d distinct colours: the page rendered (nearly) blank", n)
		}
		if !hasColourNear(img, 0xdc, 0x26, 0x26) {
			t.Error("no red in the screenshot of a failed run (verdict, ✗ marks)")
		}
	})
}

func distinctColours(img image.Image, limit int) int {
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

func hasColourNear(img image.Image, r0, g0, b0 int) bool {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-r0) < 24 && abs(int(g>>8)-g0) < 24 && abs(int(bl>>8)-b0) < 24 {
				return true
			}
		}
	}
	return false
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
