package api

import "github.com/amigo-metering/amigo/internal/archive"

// archiveTargets are the JSON bodies the routes decode: the archive's and
// the login, command and manual reading bodies.
func archiveTargets() []any {
	return []any{new(archive.SiteInput), new(archive.AreaInput), new(archive.CollectorInput), new(archive.MeterInput), new(archive.UserInput), new(archive.ReplaceInput),
		new(loginInput), new(commandInput), new(readingInput),
		new(archive.CustomerInput), new(archive.AccountInput), new(archive.AccountPatch), new(paymentInput), new(policyInput)}
}
