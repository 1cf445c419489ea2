package amigo

import "time"

// PrintJob is one document in the station's durable print queue: stored
// before it is sent, sent to Printer (an ipp:// URI) under the IPP job
// name that identifies it, retried until printed.
type PrintJob struct {
	ID        int64
	Kind      string // "bill", "receipt"
	RefID     string // the bill's or payment's id; (Kind, RefID) is unique
	Printer   string
	PDF       []byte
	State     string // PrintQueued, PrintSent, PrintPrinted, PrintFailed
	Attempts  int    // Print-Job requests begun (counted before each is sent)
	Failures  int    // consecutive failed requests to the printer; the backoff grows with it
	NextTry   time.Time
	IPPJobID  int // the job's id on the printer, once known
	LastError string
	Created   time.Time
	Printed   time.Time
}

// Print job states.
const (
	PrintQueued  = "queued"  // not yet accepted by the printer
	PrintSent    = "sent"    // accepted (IPPJobID), not yet completed
	PrintPrinted = "printed" // the printer says completed
	PrintFailed  = "failed"  // the printer aborted or an operator cancelled it
)
