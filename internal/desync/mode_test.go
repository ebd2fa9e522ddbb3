package desync

import (
	"fmt"
	"testing"
)

func TestModeDecide(t *testing.T) {
	var (
		forward      = Decision{}
		forwardClose = Decision{CloseAfter: true}
		block        = Decision{Block: true, CloseAfter: true}
	)
	tests := []struct {
		mode  Mode
		class Class
		want  Decision
	}{
		{Monitor, Compliant, forward},
		{Monitor, Acceptable, forward},
		{Monitor, Ambiguous, forward},
		{Monitor, Severe, forward},
		{Defensive, Compliant, forward},
		{Defensive, Acceptable, forward},
		{Defensive, Ambiguous, forwardClose},
		{Defensive, Severe, block},
		{Strictest, Compliant, forward},
		{Strictest, Acceptable, block},
		{Strictest, Ambiguous, block},
		{Strictest, Severe, block},
		// Out-of-range values fail closed.
		{Defensive, Class(9), block},
		{Mode(9), Compliant, forward},
		{Mode(9), Acceptable, block},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.mode, tc.class), func(t *testing.T) {
			if got := tc.mode.Decide(tc.class); got != tc.want {
				t.Errorf("%s.Decide(%s) = %+v, want %+v", tc.mode, tc.class, got, tc.want)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"monitor", Monitor, false},
		{"defensive", Defensive, false},
		{"strictest", Strictest, false},
		{"", Defensive, true},
		{"Defensive", Defensive, true},
		{"strict", Defensive, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMode(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ParseMode(%q) = %v, %v; want %v, error %t", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err == nil && got.String() != tc.in {
				t.Errorf("ParseMode(%q).String() = %q", tc.in, got.String())
			}
		})
	}
}

func TestZeroModeIsDefensive(t *testing.T) {
	var m Mode
	if m != Defensive {
		t.Errorf("zero Mode = %v, want defensive (ALB's default)", m)
	}
}
