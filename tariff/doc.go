// Package tariff prices electricity: tariff documents (JSON, see
// docs/tariffs.md), their versions, and quotes — energy per time-of-use
// period (尖峰平谷) with seasons and a workday/rest-day calendar, a tier
// ladder (阶梯) per month or year with surcharges or tier prices and
// proration for a partial cycle, and standing charges per month.
//
// Units: energy is amigo.Energy (0.0001 kWh), prices are Price (0.0001
// yuan, per kWh), money is amigo.Fen. Every line of a quote is rounded
// half-up to the fen on its own, and the total is the sum of the rounded
// lines; no float is used anywhere.
//
// The package is pure: it reads no files or clocks and keeps no globals
// (the zone of a tariff is resolved by time.LoadLocation from Go's zone
// database). Callers give it the site-local day of each usage.
package tariff
