package ejson

import "testing"

func TestObjectKeepsOrderAndDoesNotEscapeHTML(t *testing.T) {
	b, err := Marshal(Object{{Key: "z", Value: 1}, {Key: "a", Value: "x <= 1 & y > 2"}, {Key: "m", Value: map[string]int{"k": 1}}, {Key: "f", Value: Float(10)}, {Key: "g", Value: Float(0.25)}, {Key: "bad", Value: func() {}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"z":1,"a":"x <= 1 & y > 2","m":{"k":1},"f":10.0,"g":0.25,"bad":null}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
}

func TestMarshalNonASCII(t *testing.T) {
	b, _ := Marshal("héllo\u2028")
	if string(b) != `"héllo\u2028"` {
		t.Fatalf("got %s", b)
	}
}
