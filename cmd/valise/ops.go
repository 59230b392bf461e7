package main

import "github.com/urfave/cli/v2"

func (e *env) usersCommand() *cli.Command  { return &cli.Command{Name: "users", Hidden: true} }
func (e *env) venuesCommand() *cli.Command { return &cli.Command{Name: "venues", Hidden: true} }
func (e *env) kitsCommand() *cli.Command   { return &cli.Command{Name: "kits", Hidden: true} }
func (e *env) loansCommand() *cli.Command  { return &cli.Command{Name: "loans", Hidden: true} }
func (e *env) auditCommand() *cli.Command  { return &cli.Command{Name: "audit", Hidden: true} }
