package follow

import (
	"strings"
	"time"
)

// Multi-line records (Options.Multiline): a line that matches the pattern
// starts a record, the lines after it continue it, and the record is
// delivered as one Line whose Text holds its lines joined by "\n" when the
// next record starts, when no line came for RecordWait, when it would grow
// past MaxRecord, and when Run returns. Records are kept per name, not per
// file, so a record cut by a rotation (its start in the old file, the rest
// in the new one) stays whole.

// Defaults for the record options left zero.
const (
	DefaultRecordWait = 500 * time.Millisecond
	DefaultMaxRecord  = 1 << 20
)

// record is a multi-line record being gathered.
type record struct {
	line  Line            // File, Name and Offset of its first line
	text  strings.Builder // its lines so far, joined by "\n"
	from  ident           // the file its first line came from
	last  time.Time       // when its last line came
	lines int
}

// recordLine is the follower's out when records are on: it adds l to the
// record of its name, delivering what it completes.
func (f *Follower) recordLine(l Line) error {
	r := f.records[l.File]
	starts := f.o.Multiline.MatchString(l.Text)
	if r != nil && (starts || r.text.Len()+1+len(l.Text) > f.o.MaxRecord) {
		if err := f.deliverRecord(l.File); err != nil {
			return err
		}
		r = nil
	}
	now := time.Now()
	if r == nil {
		if len(l.Text) >= f.o.MaxRecord {
			return f.userOut(l) // a line as long as a record: alone
		}
		r = &record{line: l}
		if f.cur != nil {
			r.from = f.cur.ino
		}
		r.text.WriteString(l.Text)
		f.records[l.File] = r
	} else {
		r.text.WriteByte('\n')
		r.text.WriteString(l.Text)
	}
	r.lines++
	r.last = now
	if !f.recordArmed && f.q.SetTimer(timerRecord, f.o.RecordWait) == nil {
		f.recordArmed = true
	}
	return nil
}

// deliverRecord hands the record of name to the user's out.
func (f *Follower) deliverRecord(name string) error {
	r := f.records[name]
	if r == nil {
		return nil
	}
	delete(f.records, name)
	l := r.line
	l.Text = r.text.String()
	return f.userOut(l)
}

// quietRecords delivers the records no line came for in RecordWait, and
// re-arms the timer for the others.
func (f *Follower) quietRecords(now time.Time) error {
	f.recordArmed = false
	var next time.Duration
	for name, r := range f.records {
		if wait := f.o.RecordWait - now.Sub(r.last); wait > 0 {
			if next == 0 || wait < next {
				next = wait
			}
			continue
		}
		if err := f.deliverRecord(name); err != nil {
			return err
		}
	}
	if next > 0 && f.q.SetTimer(timerRecord, next) == nil {
		f.recordArmed = true
	}
	return nil
}

// allRecords delivers every record being gathered.
func (f *Follower) allRecords() error {
	for name := range f.records {
		if err := f.deliverRecord(name); err != nil {
			return err
		}
	}
	return nil
}

// recordStart returns the offset in the file with identity id where the
// first record still being gathered from it starts, if any: the state must
// not claim lines that were not delivered yet.
func (f *Follower) recordStart(id ident) (int64, bool) {
	var at int64
	found := false
	for _, r := range f.records {
		if r.from == id && (!found || r.line.Offset < at) {
			at, found = r.line.Offset, true
		}
	}
	return at, found
}
