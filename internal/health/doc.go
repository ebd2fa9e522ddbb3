// Package health runs the active health checks of one target group, the way
// an AWS Application Load Balancer does: HTTP or HTTPS requests whose status
// code must match a matcher ("200", "200,202", "200-299"), or a TCP connect
// for TCP and TLS target groups, every interval with a timeout, moving each
// target between ALB's states (initial, healthy, unhealthy) after a number of
// consecutive successes or failures, with ALB's reason codes.
//
// The balancer asks [Checker.Healthy] for the targets it may use. As ALB, it
// fails open: when no target is healthy, every target is returned, because
// sending traffic to targets that might work beats answering 503 to everyone
// when the health check itself is what is broken.
//
// A Checker belongs to one configuration snapshot: it is started with that
// snapshot's context and every goroutine it starts ends when the context is
// cancelled.
package health
