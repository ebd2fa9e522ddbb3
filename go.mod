module github.com/mtlslb/mtlslb

go 1.26

require (
	github.com/DeRuina/timberjack v1.3.0 // indirect
	github.com/Netflix/bettertls v0.0.0-20250909192348-e1e99e353074 // indirect
	github.com/fsnotify/fsnotify v1.8.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/google/uuid v1.3.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.9.1 // indirect
	github.com/spf13/pflag v1.0.6 // indirect
	golang.org/x/sync v0.12.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
	sigs.k8s.io/yaml v1.4.0 // indirect
)
