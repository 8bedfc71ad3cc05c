package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Environment variables that give recurring flags their value when the
// command line does not (docs/configuration.md, "Environment"). A flag
// on the command line always wins.
const (
	envLogLevel   = "JOINTLY_LOG_LEVEL"
	envConfig     = "JOINTLY_CONFIG"
	envNode       = "JOINTLY_NODE"
	envTLSDir     = "JOINTLY_TLS_DIR"
	envName       = "JOINTLY_NAME"
	envExpectNode = "JOINTLY_EXPECT_NODE"
)

// envHelp is the list of variables in `jointly --help`.
const envHelp = `Environment:
  JOINTLY_CONFIG       --config of node, budget and validate
  JOINTLY_NODE         --node of query and info
  JOINTLY_TLS_DIR      --tls-dir of query and info
  JOINTLY_NAME         --name of query and info
  JOINTLY_EXPECT_NODE  --expect-node of query and info
  JOINTLY_LOG_LEVEL    --log-level
A flag given on the command line wins over its variable.`

// envAnnotation is the flag annotation naming its environment variable.
const envAnnotation = "jointly_env"

// bindEnv makes the environment variable env the value of the flag name
// of fs when the command line leaves it out, and says so in its help.
func bindEnv(fs *pflag.FlagSet, name, env string) {
	f := fs.Lookup(name)
	if f == nil {
		return // TestEnvironmentInHelp finds it
	}
	f.Usage += fmt.Sprintf(" [$%s]", env)
	_ = fs.SetAnnotation(name, envAnnotation, []string{env}) // fails only for a missing flag
}

// configFlag adds the required --config flag of a command that acts on a
// node's configuration file, which $JOINTLY_CONFIG may give.
func configFlag(cmd *cobra.Command, path *string, usage string) {
	cmd.Flags().StringVar(path, "config", "", usage)
	bindEnv(cmd.Flags(), "config", envConfig)
	_ = cmd.MarkFlagRequired("config")
}

// applyEnv sets every flag of cmd that the command line left out from its
// environment variable, if that is set, as if it had been given; a
// required flag is then present. It returns which flags it set, by name,
// with their variables.
func applyEnv(cmd *cobra.Command) (map[string]string, error) {
	set := map[string]string{}
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		envs := f.Annotations[envAnnotation]
		if err != nil || f.Changed || len(envs) == 0 {
			return
		}
		v, ok := os.LookupEnv(envs[0])
		if !ok || v == "" {
			return
		}
		if serr := cmd.Flags().Set(f.Name, v); serr != nil {
			err = usageErrorf("$%s: %v", envs[0], serr)
			return
		}
		set[f.Name] = envs[0]
	})
	return set, err
}
