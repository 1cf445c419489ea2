package api

import "github.com/amigo-metering/amigo/internal/archive"

// archiveTargets are the bodies the archive routes decode.
func archiveTargets() []any {
	return []any{new(archive.SiteInput), new(archive.AreaInput), new(archive.CollectorInput), new(archive.MeterInput), new(archive.UserInput), new(archive.ReplaceInput)}
}
