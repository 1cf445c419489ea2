package printing

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/amigo-metering/amigo/internal/ipp"
	"github.com/amigo-metering/amigo/internal/printing/cupstest"
)

func token() string { return strings.ToLower(rand.Text()[:8]) }

// TestPrintThroughCUPS prints a bill and a receipt with Print-Job on the
// test's own cupsd and reads the PDFs cups-pdf made of them.
func TestPrintThroughCUPS(t *testing.T) {
	srv := cupstest.Start(t)
	r := renderer(t)
	c := &Client{User: cupstest.User}
	ctx := context.Background()

	ps, err := c.Printer(ctx, srv.URI())
	if err != nil {
		t.Fatal(err)
	}
	if !ps.Accepting || ps.State != 3 {
		t.Fatalf("printer %+v, want idle and accepting", ps)
	}

	bill, err := r.Bill(sampleBill())
	if err != nil {
		t.Fatal(err)
	}
	receipt, err := r.Receipt(ReceiptDoc{Number: "P20261126-0007", Account: "3301-0042-77", AmountFen: 20000, Method: "cash",
		Time: time.Date(2026, 11, 26, 9, 30, 5, 0, time.UTC), Cashier: "李四"})
	if err != nil {
		t.Fatal(err)
	}
	tok := token()
	for _, doc := range []struct {
		name string
		pdf  []byte
		want []string
	}{
		{"amigo-bill-" + tok, bill, []string{"电费账单", "户号", "3301-0042-77", "139.30", "合计"}},
		{"amigo-receipt-" + tok, receipt, []string{"收款收据", "3301-0042-77", "200.00", "现金"}},
	} {
		id, err := c.PrintJob(ctx, srv.URI(), doc.name, doc.pdf)
		if err != nil {
			t.Fatal(err)
		}
		if st := waitJob(t, c, srv.URI(), id); st.State != ipp.JobCompleted {
			t.Fatalf("%s: job %d ended in state %d %v\n%s", doc.name, id, st.State, st.Reasons, srv.Log())
		}
		found, ok, err := c.FindJob(ctx, srv.URI(), doc.name)
		if err != nil || !ok || found.ID != id {
			t.Errorf("FindJob(%s) = %+v, %v, %v; want job %d", doc.name, found, ok, err, id)
		}
		text := pdfText(t, cupstest.Output(t, doc.name))
		for _, w := range doc.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: the printed PDF lacks %q:\n%s", doc.name, w, text)
			}
		}
	}
	if _, _, err := c.FindJob(ctx, srv.URI(), "none"); err != nil {
		t.Errorf("FindJob of an unknown name: %v", err)
	}
	if _, err := c.Job(ctx, srv.URI(), 9999); err == nil {
		t.Error("Get-Job-Attributes of an unknown job succeeded")
	}
	_, err = c.PrintJob(ctx, fmt.Sprintf("ipp://127.0.0.1:%d/printers/nope", srv.Port()), "x", bill)
	if se, ok := err.(*StatusError); !ok || se.Code != ipp.StatusNotFound {
		t.Errorf("printing to an unknown printer: %v, want client-error-not-found", err)
	}
}
