package party

// Version is the release version of the node, "dev" for builds from a work
// tree; `make build` sets it with -ldflags "-X github.com/jointly-dev/jointly/party.Version=...".
var Version = "dev"
