module vm

go 1.26.0

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/ulikunitz/xz v0.5.17
	github.com/urfave/cli/v3 v3.14.0
	golang.org/x/sys v0.49.0
)

require (
	github.com/cloudflare/circl v1.6.3 // indirect
	golang.org/x/crypto v0.41.0 // indirect
)
