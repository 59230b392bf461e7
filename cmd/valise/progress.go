package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/valise-numerique/valise/internal/apitype"
	"github.com/valise-numerique/valise/internal/cmdmain"
	"github.com/valise-numerique/valise/internal/wire"
)

// barWidth is the number of cells of a progress bar.
const barWidth = 20

// maxRedraw is the most jobs redrawn in place on a terminal; past it, the
// lines would not fit a screen and moving the cursor up would fail, so
// lines are printed as off a terminal.
const maxRedraw = 20

// progress draws one line per wipe job, from the jobs' snapshots the
// server gives. On a terminal the lines are redrawn in place; elsewhere (a
// pipe, a log file) a job's line is printed again only when its state or
// phase changes or its progress passes another tenth, so that logs stay
// short. Everything shown comes from the snapshots (rate and times are the
// agent's), never from the local clock: the same snapshots draw the same
// lines.
//
// It is written by hand rather than with a progress-bar library: those
// draw on a timer of their own and write control codes that garble pipes
// and logs, where a wipe's progress must read as plain lines.
type progress struct {
	w     io.Writer
	tty   bool
	drawn int               // lines drawn last time (terminal)
	frame string            // what was drawn last time (terminal)
	last  map[string]string // job id → key of its last line printed (elsewhere)
	prev  map[string]sample // job id → previous bytes done, for the rate when the agent gives none
	rate  map[string]float64
}

// sample is how far a job was at a time.
type sample struct {
	done int64
	at   time.Time
}

func newProgress(w io.Writer, tty bool) *progress {
	return &progress{w: w, tty: tty, last: map[string]string{}, prev: map[string]sample{}, rate: map[string]float64{}}
}

// update draws the jobs' latest snapshots, in the order given.
func (p *progress) update(jobs []apitype.WipeJob) {
	width := 0
	for _, j := range jobs {
		width = max(width, len([]rune(jobTag(j))))
	}
	redraw := p.tty && len(jobs) <= maxRedraw
	var frame, b strings.Builder
	for _, j := range jobs {
		line, key := p.line(j, width)
		switch {
		case redraw:
			frame.WriteString("\x1b[2K" + line + "\n")
		case p.last[j.ID] != key:
			b.WriteString(line + "\n")
		}
		p.last[j.ID] = key
	}
	if redraw {
		if frame.String() == p.frame {
			return // nothing moved: no flicker
		}
		if p.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line
		}
		b.WriteString(frame.String())
		p.drawn, p.frame = len(jobs), frame.String()
	}
	io.WriteString(p.w, b.String())
}

// totals sums a job's progress over its disks: bytes done and to do, the
// agent's rate, the least advanced phase and the time of the latest report.
func totals(j apitype.WipeJob) (done, total int64, rate float64, phase string, at time.Time) {
	rank := map[string]int{wire.PhaseProbing: 0, wire.PhaseErasing: 1, wire.PhaseVerifying: 2}
	for i, d := range j.Progress {
		done += d.DoneBytes
		total += d.TotalBytes
		rate += d.RateBps
		if i == 0 || rank[d.Phase] < rank[phase] {
			phase = d.Phase
		}
		if d.At.After(at) {
			at = d.At
		}
	}
	return done, total, rate, phase, at
}

// line is the text of a job's line and the key that says when, off a
// terminal, it is worth printing again.
func (p *progress) line(j apitype.WipeJob, width int) (string, string) {
	tag := jobTag(j)
	tag += strings.Repeat(" ", width-len([]rune(tag)))
	switch j.State {
	case apitype.JobSucceeded:
		return fmt.Sprintf("%s  %-9s  %s  100 %%  certificate %s", tag, j.State, bar(1), orDash(j.Certificate)), j.State
	case apitype.JobFailed:
		return fmt.Sprintf("%s  failed: %s", tag, cmdmain.OneLine(orDefault(j.Error, "no reason given"))), j.State
	case apitype.JobRequested, apitype.JobSent:
		return fmt.Sprintf("%s  waiting for the device to start (%s)", tag, j.State), j.State
	}
	done, total, rate, phase, at := totals(j)
	if total <= 0 {
		return fmt.Sprintf("%s  %s", tag, orDefault(phase, j.State)), j.State + "|" + phase
	}
	if rate <= 0 {
		// The agent gave no rate: derive it from the previous snapshot.
		if s, ok := p.prev[j.ID]; ok && at.After(s.at) && done >= s.done {
			p.rate[j.ID] = float64(done-s.done) / at.Sub(s.at).Seconds()
		}
		rate = p.rate[j.ID]
	}
	p.prev[j.ID] = sample{done, at}
	frac := min(float64(done)/float64(total), 1)
	pct := int(frac * 100)
	parts := []string{
		fmt.Sprintf("%s  %-9s  %s  %3d %%", tag, phase, bar(frac), pct),
		gb(uint64(done)) + " / " + gb(uint64(total)),
	}
	if rate > 0 {
		parts = append(parts, gb(uint64(rate))+"/s", "ETA "+eta(time.Duration(float64(total-done)/rate*float64(time.Second))))
	}
	return strings.Join(parts, "  "), fmt.Sprintf("%s|%s|%d", j.State, phase, pct/10)
}

// bar draws a progress bar filled to frac (0 to 1).
func bar(frac float64) string {
	n := int(frac * barWidth)
	return strings.Repeat("█", n) + strings.Repeat("░", barWidth-n)
}

// eta is a remaining time for people: "45 s", "3 min 20 s", "2 h 05 min".
func eta(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min %02d s", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%d h %02d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// jobPercent is a job's progress for the status table: "42 % erasing".
func jobPercent(j apitype.WipeJob) string {
	if j.State == apitype.JobSucceeded {
		return "100 %"
	}
	done, total, _, phase, _ := totals(j)
	if total <= 0 {
		return dash
	}
	return fmt.Sprintf("%d %% %s", int(min(float64(done)/float64(total), 1)*100), phase)
}
