package station

import (
	"testing"

	"github.com/amigo-metering/amigo"
)

// An archive's signature changes with anything pushed of a meter, and only
// then; fields cannot run into each other.
func TestArchiveSignature(t *testing.T) {
	base := []amigo.Meter{
		{ID: 1, Pn: 1, Port: 2, Address: "000000000001", Protocol: "dlt645-2007", Password: "02000000", Operator: "00000000"},
		{ID: 2, Pn: 2, Port: 2, Address: "000000000002", Protocol: "dlt645-2007"},
	}
	sig := archiveSignature(base)
	same := append([]amigo.Meter(nil), base...)
	same[0].ID, same[0].RatedAmps = 99, 80 // not pushed
	if archiveSignature(same) != sig {
		t.Fatal("signature changed with fields the archive does not carry")
	}
	changes := map[string]func(m *amigo.Meter){
		"pn":       func(m *amigo.Meter) { m.Pn = 3 },
		"port":     func(m *amigo.Meter) { m.Port = 1 },
		"address":  func(m *amigo.Meter) { m.Address = "000000000009" },
		"protocol": func(m *amigo.Meter) { m.Protocol = "dlt645-1997" },
		"password": func(m *amigo.Meter) { m.Password = "02111111" },
		"operator": func(m *amigo.Meter) { m.Operator = "1" },
	}
	for name, change := range changes {
		ms := append([]amigo.Meter(nil), base...)
		change(&ms[1])
		if archiveSignature(ms) == sig {
			t.Errorf("signature unchanged when the %s changed", name)
		}
	}
	a := []amigo.Meter{{Pn: 1, Address: "1/2", Protocol: ""}}
	b := []amigo.Meter{{Pn: 1, Address: "1", Protocol: "2"}}
	if archiveSignature(a) == archiveSignature(b) {
		t.Error("fields ran into each other")
	}
	if archiveSignature(base[:1]) == sig {
		t.Error("signature unchanged when a meter left")
	}
}
