package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode"

	"golang.org/x/sys/unix"

	"imapfs/mountopts"
)

// password finds the IMAP password, in the order the documentation gives:
// --password-file, --password-command, $IMAPFS_PASSWORD, ~/.netrc, then a
// prompt on the terminal. It never comes from the command line.
func password(cfg *mountopts.Config) (string, error) {
	switch {
	case cfg.PasswordFile != "":
		data, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		return firstLine(string(data)), nil
	case cfg.PasswordCommand != "":
		cmd := helperCommand(context.Background(), cfg.PasswordCommand)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("--password-command: %w", err)
		}
		return firstLine(string(out)), nil
	}
	if p, ok := os.LookupEnv("IMAPFS_PASSWORD"); ok {
		return p, nil
	}
	if p, ok := netrcPassword(cfg.Server.Host, cfg.Server.User); ok {
		return p, nil
	}
	return prompt(fmt.Sprintf("Password for %s: ", cfg.Server))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r")
}

// netrcPassword reads ~/.netrc (or $NETRC) for machine host and login user.
func netrcPassword(host, user string) (string, bool) {
	path, err := netrcPath()
	if err != nil {
		return "", false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	// Tokens: machine NAME | default, then login, password, account values.
	fields := netrcTokens(string(data))
	var machine, login, pass string
	match := func() (string, bool) {
		if (machine == host || machine == "") && (login == user || user == "") && pass != "" {
			return pass, true
		}
		return "", false
	}
	inEntry := false
	for i := 0; i < len(fields); i++ {
		next := func() string {
			if i+1 < len(fields) {
				i++
				return fields[i]
			}
			return ""
		}
		switch fields[i] {
		case "machine", "default":
			if inEntry {
				if p, ok := match(); ok {
					return p, true
				}
			}
			inEntry, login, pass = true, "", ""
			machine = ""
			if fields[i] == "machine" {
				machine = next()
			}
		case "login":
			login = next()
		case "password":
			pass = next()
		case "account", "macdef":
			next()
		}
	}
	if inEntry {
		return match()
	}
	return "", false
}

// prompt asks on the controlling terminal with echo off.
func prompt(text string) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errors.New("no password: give --password-file, --password-command, IMAPFS_PASSWORD or ~/.netrc (no terminal to ask on)")
	}
	defer tty.Close()
	fd := int(tty.Fd())
	termios, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", errors.New("no password: no terminal to ask on")
	}
	quiet := *termios
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, termios)
	fmt.Fprint(tty, text)
	line, err := bufio.NewReader(tty).ReadString('\n')
	fmt.Fprintln(tty)
	if err != nil && line == "" {
		return "", errors.New("no password given")
	}
	return firstLine(line), nil
}

// netrcTokens splits a .netrc file into its tokens: words separated by
// white space, or, as curl and GNU inetutils read them, a double-quoted
// string in which \" is a quote and \\ a backslash (a password with
// spaces: password "correct horse").
func netrcTokens(text string) []string {
	var tokens []string
	for i := 0; i < len(text); {
		switch {
		case unicode.IsSpace(rune(text[i])):
			i++
		case text[i] == '"':
			var tok strings.Builder
			for i++; i < len(text) && text[i] != '"'; i++ {
				if text[i] == '\\' && i+1 < len(text) {
					i++
				}
				tok.WriteByte(text[i])
			}
			i++ // the closing quote
			tokens = append(tokens, tok.String())
		default:
			start := i
			for i < len(text) && !unicode.IsSpace(rune(text[i])) {
				i++
			}
			tokens = append(tokens, text[start:i])
		}
	}
	return tokens
}
