// Package serialline opens the lines meters hang on: a serial port (a real
// RS-485 adapter or one end of a pty pair) with its baud rate and parity, or a
// TCP serial server (a transparent DTU). Both come back as a Line: bytes in and
// out with a read deadline, which is all a bus master needs.
package serialline

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/creack/pty"
	"go.bug.st/serial"
	"golang.org/x/sys/unix"
)

// Line is a byte stream to a bus of meters.
type Line interface {
	io.ReadWriteCloser
	// SetReadDeadline makes Read return an error wrapping
	// os.ErrDeadlineExceeded after t.
	SetReadDeadline(t time.Time) error
}

// Config says how to reach a line.
type Config struct {
	Device   string // serial device, e.g. /dev/ttyUSB0 or /dev/pts/3
	Address  string // or a TCP serial server host:port
	Baud     int    // default 2400
	DataBits int    // default 8
	Parity   string // "even" (default), "odd", "none"
	StopBits int    // 1 (default) or 2
}

// Validate fills defaults and checks the configuration.
func (c *Config) Validate() error {
	if (c.Device == "") == (c.Address == "") {
		return errors.New("serialline: exactly one of device and address must be set")
	}
	if c.Baud == 0 {
		c.Baud = 2400
	}
	if c.DataBits == 0 {
		c.DataBits = 8
	}
	if c.Parity == "" {
		c.Parity = "even"
	}
	if c.StopBits == 0 {
		c.StopBits = 1
	}
	switch c.Parity {
	case "even", "odd", "none":
	default:
		return fmt.Errorf("serialline: parity %q: want even, odd or none", c.Parity)
	}
	if c.StopBits != 1 && c.StopBits != 2 {
		return fmt.Errorf("serialline: stop bits %d: want 1 or 2", c.StopBits)
	}
	return nil
}

// String describes the line: "/dev/ttyUSB0 2400 8E1" or "tcp 10.0.0.5:8899".
func (c Config) String() string {
	if c.Address != "" {
		return "tcp " + c.Address
	}
	return fmt.Sprintf("%s %d %d%s%d", c.Device, c.Baud, c.DataBits, strings.ToUpper(c.Parity[:1]), c.StopBits)
}

// Open opens the line.
func Open(c Config) (Line, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Address != "" {
		conn, err := net.DialTimeout("tcp", c.Address, 10*time.Second)
		if err != nil {
			return nil, fmt.Errorf("serialline: dial %s: %w", c.Address, err)
		}
		return conn.(*net.TCPConn), nil
	}
	mode := &serial.Mode{BaudRate: c.Baud, DataBits: c.DataBits, StopBits: serial.OneStopBit, Parity: serial.EvenParity}
	switch c.Parity {
	case "odd":
		mode.Parity = serial.OddParity
	case "none":
		mode.Parity = serial.NoParity
	}
	if c.StopBits == 2 {
		mode.StopBits = serial.TwoStopBits
	}
	p, err := serial.Open(c.Device, mode)
	if err != nil {
		return nil, fmt.Errorf("serialline: open %s: %w", c, err)
	}
	return &port{Port: p}, nil
}

// port adapts a serial.Port's read timeout to a deadline.
type port struct {
	serial.Port
	deadline time.Time
}

func (p *port) SetReadDeadline(t time.Time) error {
	p.deadline = t
	return nil
}

func (p *port) Read(b []byte) (int, error) {
	if p.deadline.IsZero() {
		if err := p.Port.SetReadTimeout(serial.NoTimeout); err != nil {
			return 0, err
		}
		return p.Port.Read(b)
	}
	d := time.Until(p.deadline)
	if d <= 0 {
		return 0, fmt.Errorf("serialline: read: %w", os.ErrDeadlineExceeded)
	}
	if err := p.Port.SetReadTimeout(d); err != nil {
		return 0, fmt.Errorf("serialline: set timeout: %w", err)
	}
	n, err := p.Port.Read(b)
	if n == 0 && err == nil {
		return 0, fmt.Errorf("serialline: read: %w", os.ErrDeadlineExceeded)
	}
	return n, err
}

// Pty is a pseudo-terminal pair: a program opens TTYPath as a serial port
// (with baud and parity set as on real hardware) while Master carries the
// other side's bytes, which is where a bus of virtual meters listens.
type Pty struct {
	Master  *os.File
	tty     *os.File
	TTYPath string
}

// OpenPty creates a pty pair in raw mode. Close releases both ends.
func OpenPty() (*Pty, error) {
	m, t, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("serialline: open pty: %w", err)
	}
	if err := makeRaw(int(t.Fd())); err != nil {
		m.Close()
		t.Close()
		return nil, err
	}
	// pty.Open calls Fd() on the master, which puts it in blocking mode: a
	// Read then sits in the kernel and Close cannot end it, so a bus serving
	// the pty never noticed its context end (amigo sim --pty ignored Ctrl-C
	// and SIGTERM). A non-blocking copy is run by the runtime's poller,
	// where Close wakes a pending Read.
	fd, err := unix.Dup(int(m.Fd()))
	m.Close()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("serialline: pty: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		t.Close()
		return nil, fmt.Errorf("serialline: pty: %w", err)
	}
	return &Pty{Master: os.NewFile(uintptr(fd), "/dev/ptmx"), tty: t, TTYPath: t.Name()}, nil
}

// Close closes both ends.
func (p *Pty) Close() error {
	err := p.Master.Close()
	if e := p.tty.Close(); err == nil {
		err = e
	}
	return err
}

func makeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("serialline: get termios: %w", err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("serialline: set termios: %w", err)
	}
	return nil
}
