module github.com/saaskit/saaskit/crypto/awskms

go 1.26.0

require (
	github.com/aws/aws-sdk-go v1.49.21
	github.com/stretchr/testify v1.12.1
	github.com/tink-crypto/tink-go-awskms/v2 v2.1.0
	github.com/tink-crypto/tink-go/v2 v2.9.0
)

require (
	github.com/jmespath/go-jmespath v0.4.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
