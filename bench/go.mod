module github.com/saaskit/saaskit/bench

go 1.26.0

require (
	github.com/go-saas/saas v0.6.3
	github.com/saaskit/saaskit v0.0.0
)

require (
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)

replace github.com/saaskit/saaskit => ../
