// Package accesslog formats and writes mtlslb's logs: the connection log of alb-compat.md §5 (one line per
// connection attempt, fifteen space-separated fields in ALB's order) and the access log of §6 (one line per
// request, ALB's field order and quoting), on the same Writer.
//
// Formatting is append-style (AppendConnLine, AppendAccessLine) and allocation-free for a typical record,
// because a line is written for every handshake and every request. Writer
// buffers lines and hands them to a file (rotated and compressed with
// timberjack) or to stdout from one background goroutine, so a slow disk or
// a blocked pipe never holds a handshake for long: when the buffer is full,
// lines are dropped and counted instead.
package accesslog
