// Package report prints policy results for people (a table) and for
// machines (JSON). Each format lives in its own file.
package report
