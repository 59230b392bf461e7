package main

import "github.com/urfave/cli/v2"

func (e *env) importCommand() *cli.Command { return &cli.Command{Name: "import", Hidden: true} }
func (e *env) exportCommand() *cli.Command { return &cli.Command{Name: "export", Hidden: true} }
