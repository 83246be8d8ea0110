package benchkit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU is processor time (user and system) by who spent it during a
// benchmark's measurement: imapfs, the tool measured (or mbsync), the
// server (Dovecot's processes, TLS included) and the benchmark's own
// process, which is the latency proxy's. On a machine of few cores
// they share, their sum bounds how fast a run can be.
type CPU struct {
	Imapfs, Tool, Server, Proxy time.Duration
}

// Total is all of it.
func (c CPU) Total() time.Duration { return c.Imapfs + c.Tool + c.Server + c.Proxy }

// Since is what was spent from before to c.
func (c CPU) Since(before CPU) CPU {
	return CPU{c.Imapfs - before.Imapfs, c.Tool - before.Tool, c.Server - before.Server, c.Proxy - before.Proxy}
}

// TakeCPU is the processor time spent so far by imapfs (the process tree
// of imapfsPid; 0: none), the server (that of serverPid), the processes
// this one ran and waited for (the tools: nothing else ends while a tool
// is measured) and this process itself.
func TakeCPU(imapfsPid, serverPid int) CPU {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	return CPU{
		Imapfs: TreeCPU(imapfsPid),
		Server: TreeCPU(serverPid),
		Tool:   rusageTime(&children),
		Proxy:  rusageTime(&self),
	}
}

func rusageTime(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the unit of /proc/PID/stat's times (USER_HZ, 100 on
// Linux's architectures).
const clockTicks = 100

// TreeCPU is the processor time of process pid and of every process
// below it, those that ended included: an ended process's time is in
// the counts of the parent that reaped it (cutime, cstime), so the sum
// over the live processes of their own and their reaped children's
// times counts each once. 0 for pid 0.
func TreeCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	type proc struct {
		ppid  int
		ticks int64
	}
	procs := map[int]proc{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // ended meanwhile
		}
		// "PID (COMM) STATE PPID ..."; COMM may hold spaces and parentheses.
		end := strings.LastIndexByte(string(data), ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(string(data[end+1:]))
		if len(f) < 15 {
			continue
		}
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		ppid, _ := strconv.Atoi(f[1])
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
		procs[p] = proc{ppid, ticks}
	}
	var total int64
	for p, pr := range procs {
		for a := p; a > 1; a = procs[a].ppid {
			if a == pid {
				total += pr.ticks
				break
			}
			if _, known := procs[a]; !known {
				break
			}
		}
	}
	return time.Duration(total) * time.Second / clockTicks
}
