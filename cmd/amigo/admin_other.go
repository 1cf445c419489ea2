//go:build !linux

package main

import (
	"bufio"
	"os"
	"strings"
)

// readNoEcho reads a line from the terminal (echo stays on where amigo
// cannot turn it off: prefer --password-file there).
func readNoEcho(f *os.File) (string, error) {
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
