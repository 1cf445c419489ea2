package printing

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/amigo-metering/amigo/internal/ipp"
)

// Client speaks IPP/2.0 (RFC 8011) over HTTP to a printer or a CUPS queue:
// Print-Job, Get-Job-Attributes, Get-Jobs and Get-Printer-Attributes.
type Client struct {
	// HTTP is the transport; nil uses one with a 60 s timeout.
	HTTP *http.Client
	// User is the requesting-user-name; "amigo" when empty. (CUPS-PDF
	// writes the jobs of a user it does not know to its anonymous
	// directory, see docs/printing.md.)
	User string

	reqID atomic.Uint32
}

// maxResponse bounds an IPP response read into memory.
const maxResponse = 1 << 20

var defaultHTTP = &http.Client{Timeout: 60 * time.Second}

// httpURL maps ipp://host[:port]/path to http://host:631/path (ipps to
// https), RFC 8010 §4.
func httpURL(printer string) (string, error) {
	u, err := url.Parse(printer)
	if err != nil {
		return "", fmt.Errorf("打印机地址无效 / printer URI %q: %w", printer, err)
	}
	switch u.Scheme {
	case "ipp":
		u.Scheme = "http"
	case "ipps":
		u.Scheme = "https"
	case "http", "https":
	default:
		return "", fmt.Errorf("打印机地址须为 ipp:// 或 ipps:// / printer URI %q: scheme must be ipp or ipps", printer)
	}
	if u.Host == "" {
		return "", fmt.Errorf("打印机地址缺少主机 / printer URI %q has no host", printer)
	}
	if u.Port() == "" {
		u.Host += ":631"
	}
	return u.String(), nil
}

// StatusError is an IPP response with a status that is not a success.
type StatusError struct {
	Op      string
	Code    uint16
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ipp %s: status 0x%04x %s", e.Op, e.Code, e.Message)
}

// call sends one request and returns the decoded response; a status that
// is not a success is a *StatusError.
func (c *Client) call(ctx context.Context, printer, opName string, op uint16, attrs []ipp.Attribute, data []byte) (ipp.Message, error) {
	target, err := httpURL(printer)
	if err != nil {
		return ipp.Message{}, err
	}
	user := c.User
	if user == "" {
		user = "amigo"
	}
	ops := append([]ipp.Attribute{
		ipp.Attr("attributes-charset", ipp.String(ipp.TagCharset, "utf-8")),
		ipp.Attr("attributes-natural-language", ipp.String(ipp.TagLanguage, "zh-cn")),
		ipp.Attr("printer-uri", ipp.String(ipp.TagURI, printer)),
		ipp.Attr("requesting-user-name", ipp.String(ipp.TagName, user)),
	}, attrs...)
	body, err := ipp.Append(nil, ipp.Message{Major: 2, Minor: 0, Code: op, RequestID: c.reqID.Add(1),
		Groups: []ipp.Group{{Tag: ipp.TagOperation, Attrs: ops}}, Data: data})
	if err != nil {
		return ipp.Message{}, fmt.Errorf("ipp %s: %w", opName, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return ipp.Message{}, fmt.Errorf("ipp %s: %w", opName, err)
	}
	req.Header.Set("Content-Type", "application/ipp")
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ipp.Message{}, fmt.Errorf("ipp %s to %s: %w", opName, printer, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return ipp.Message{}, fmt.Errorf("ipp %s: reading the response: %w", opName, err)
	}
	if resp.StatusCode != http.StatusOK {
		return ipp.Message{}, fmt.Errorf("ipp %s to %s: HTTP %s", opName, printer, resp.Status)
	}
	if len(b) > maxResponse {
		return ipp.Message{}, fmt.Errorf("ipp %s: response larger than %d bytes", opName, maxResponse)
	}
	m, err := ipp.Decode(b)
	if err != nil {
		return ipp.Message{}, fmt.Errorf("ipp %s: %w", opName, err)
	}
	if !m.StatusOK() {
		return m, &StatusError{Op: opName, Code: m.Code, Message: m.StatusMessage()}
	}
	return m, nil
}

// PrintJob sends a PDF as one job named name and returns the job's id.
func (c *Client) PrintJob(ctx context.Context, printer, name string, pdf []byte) (int, error) {
	m, err := c.call(ctx, printer, "Print-Job", ipp.OpPrintJob, []ipp.Attribute{
		ipp.Attr("job-name", ipp.String(ipp.TagName, name)),
		ipp.Attr("document-format", ipp.String(ipp.TagMimeType, "application/pdf")),
	}, pdf)
	if err != nil {
		return 0, err
	}
	id, ok := jobID(m)
	if !ok {
		return 0, fmt.Errorf("ipp Print-Job: the response has no job-id")
	}
	return id, nil
}

func jobID(m ipp.Message) (int, bool) {
	a, ok := m.Find(ipp.TagJob, "job-id")
	if !ok {
		return 0, false
	}
	n, ok := a.Int()
	return int(n), ok && n > 0
}

// JobStatus is a job's state (ipp.JobPending … ipp.JobCompleted) and reasons.
type JobStatus struct {
	ID      int
	Name    string
	State   int
	Reasons []string
}

// Done reports whether the job reached a final state.
func (s JobStatus) Done() bool { return s.State >= ipp.JobCanceled }

// Job returns a job's state (Get-Job-Attributes).
func (c *Client) Job(ctx context.Context, printer string, id int) (JobStatus, error) {
	m, err := c.call(ctx, printer, "Get-Job-Attributes", ipp.OpGetJobAttributes, []ipp.Attribute{
		ipp.Attr("job-id", ipp.Integer(ipp.TagInteger, int32(id))),
		ipp.Attr("requested-attributes", ipp.String(ipp.TagKeyword, "job-id"), ipp.String(ipp.TagKeyword, "job-name"),
			ipp.String(ipp.TagKeyword, "job-state"), ipp.String(ipp.TagKeyword, "job-state-reasons")),
	}, nil)
	if err != nil {
		return JobStatus{}, err
	}
	jobs := jobsOf(m)
	if len(jobs) != 1 {
		return JobStatus{}, fmt.Errorf("ipp Get-Job-Attributes: %d jobs in the response", len(jobs))
	}
	return jobs[0], nil
}

// Jobs lists all the printer's jobs, done or not (Get-Jobs, which-jobs
// all; CUPS keeps done jobs while its job history lasts).
func (c *Client) Jobs(ctx context.Context, printer string) ([]JobStatus, error) {
	m, err := c.call(ctx, printer, "Get-Jobs", ipp.OpGetJobs, []ipp.Attribute{
		ipp.Attr("which-jobs", ipp.String(ipp.TagKeyword, "all")),
		ipp.Attr("requested-attributes", ipp.String(ipp.TagKeyword, "job-id"), ipp.String(ipp.TagKeyword, "job-name"),
			ipp.String(ipp.TagKeyword, "job-state"), ipp.String(ipp.TagKeyword, "job-state-reasons")),
	}, nil)
	if err != nil {
		return nil, err
	}
	return jobsOf(m), nil
}

// FindJob looks for the newest job named name among all the printer's
// jobs: it tells whether a job was already sent before a crash.
func (c *Client) FindJob(ctx context.Context, printer, name string) (JobStatus, bool, error) {
	jobs, err := c.Jobs(ctx, printer)
	if err != nil {
		return JobStatus{}, false, err
	}
	var best JobStatus
	found := false
	for _, j := range jobs {
		if j.Name == name && (!found || j.ID > best.ID) {
			best, found = j, true
		}
	}
	return best, found, nil
}

// jobsOf reads every job group of a response.
func jobsOf(m ipp.Message) []JobStatus {
	var out []JobStatus
	for _, g := range m.Groups {
		if g.Tag != ipp.TagJob {
			continue
		}
		var j JobStatus
		for _, a := range g.Attrs {
			switch a.Name {
			case "job-id":
				n, _ := a.Int()
				j.ID = int(n)
			case "job-name":
				j.Name = a.String()
			case "job-state":
				n, _ := a.Int()
				j.State = int(n)
			case "job-state-reasons":
				j.Reasons = a.Strings()
			}
		}
		out = append(out, j)
	}
	return out
}

// PrinterStatus is what Get-Printer-Attributes says about a printer.
type PrinterStatus struct {
	State     int // 3 idle, 4 processing, 5 stopped
	Accepting bool
	Reasons   []string
}

// Printer returns the printer's state (Get-Printer-Attributes).
func (c *Client) Printer(ctx context.Context, printer string) (PrinterStatus, error) {
	m, err := c.call(ctx, printer, "Get-Printer-Attributes", ipp.OpGetPrinterAttributes, []ipp.Attribute{
		ipp.Attr("requested-attributes", ipp.String(ipp.TagKeyword, "printer-state"), ipp.String(ipp.TagKeyword, "printer-state-reasons"),
			ipp.String(ipp.TagKeyword, "printer-is-accepting-jobs")),
	}, nil)
	if err != nil {
		return PrinterStatus{}, err
	}
	var s PrinterStatus
	if a, ok := m.Find(ipp.TagPrinter, "printer-state"); ok {
		n, _ := a.Int()
		s.State = int(n)
	}
	if a, ok := m.Find(ipp.TagPrinter, "printer-is-accepting-jobs"); ok && len(a.Values) > 0 {
		s.Accepting = len(a.Values[0].Bytes) == 1 && a.Values[0].Bytes[0] == 1
	}
	if a, ok := m.Find(ipp.TagPrinter, "printer-state-reasons"); ok {
		s.Reasons = a.Strings()
	}
	return s, nil
}
