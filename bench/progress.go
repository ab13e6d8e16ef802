package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws a progress bar on a terminal, or prints a line every few
// seconds when stderr is a file or pipe. It is safe for concurrent use.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	quiet  bool
	phase  string
	detail string
	total  int64
	done   int64
	start  time.Time
	drawn  time.Time
	width  int
}

func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// Phase starts a new phase of total steps (0 when unknown).
func (p *progress) Phase(name string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	p.phase, p.total, p.done, p.detail = name, total, 0, ""
	p.start = time.Now()
	p.drawn = time.Time{}
	p.drawLocked(true)
}

// Add advances the phase by n steps and sets the detail text if not empty.
func (p *progress) Add(n int64, detail string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if detail != "" {
		p.detail = detail
	}
	p.drawLocked(false)
}

// Detail sets the detail text.
func (p *progress) Detail(detail string) { p.Add(0, detail) }

// Done ends the current phase.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
}

func (p *progress) endLocked() {
	if p.phase == "" || p.quiet {
		p.phase = ""
		return
	}
	p.drawn = time.Time{}
	p.drawLocked(true)
	if p.tty {
		fmt.Fprintln(p.w)
	}
	p.phase = ""
}

func (p *progress) drawLocked(force bool) {
	if p.quiet || p.phase == "" {
		return
	}
	now := time.Now()
	every := 100 * time.Millisecond
	if !p.tty {
		every = 5 * time.Second
	}
	if !force && now.Sub(p.drawn) < every {
		return
	}
	p.drawn = now
	elapsed := now.Sub(p.start).Round(100 * time.Millisecond)
	var bar string
	if p.total > 0 {
		const n = 30
		frac := min(float64(p.done)/float64(p.total), 1)
		filled := int(frac * n)
		bar = fmt.Sprintf("[%s%s] %3.0f%% ", strings.Repeat("=", filled), strings.Repeat(" ", n-filled), frac*100)
	}
	line := fmt.Sprintf("%s%s %s (%s)", bar, p.phase, p.detail, elapsed)
	if p.tty {
		pad := ""
		if len(line) < p.width {
			pad = strings.Repeat(" ", p.width-len(line))
		}
		p.width = len(line)
		fmt.Fprintf(p.w, "\r%s%s", line, pad)
		return
	}
	fmt.Fprintln(p.w, line)
}
