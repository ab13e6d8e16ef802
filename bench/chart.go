package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// svg draws the per-query ratios MantisDB/DuckDB as a horizontal bar chart
// on a log scale centred on 1 (bars to the left: MantisDB faster). Queries
// without a ratio show why. The chart is plain SVG, written by hand to keep
// the harness free of plotting dependencies.
func (t *tpchResult) svg() string {
	const (
		left, right, top, rowH, barH = 70.0, 250.0, 50.0, 22.0, 14.0
		plotW                        = 520.0
	)
	// The axis spans whole decades around the data, at least 0.1..10.
	lo, hi := -1.0, 1.0
	for _, q := range t.Queries {
		if q.Ratio > 0 {
			l := math.Log10(q.Ratio)
			lo, hi = math.Min(lo, math.Floor(l)), math.Max(hi, math.Ceil(l))
		}
	}
	x := func(ratio float64) float64 { return left + (math.Log10(ratio)-lo)/(hi-lo)*plotW }
	height := top + rowH*float64(len(t.Queries)) + 40
	width := left + plotW + right
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&sb, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	title := fmt.Sprintf("TPC-H SF %g: MantisDB time / DuckDB time per query (log scale, lower is better)", t.SF)
	fmt.Fprintf(&sb, `<text x="%.0f" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	if t.GeoMeanQueries > 0 {
		fmt.Fprintf(&sb, `<text x="%.0f" y="38">geometric mean %s over %d queries</text>`+"\n", left, num(t.GeoMeanRatio), t.GeoMeanQueries)
	}
	bottom := top + rowH*float64(len(t.Queries))
	for d := lo; d <= hi; d++ {
		v := math.Pow(10, d)
		gx := x(v)
		stroke := "#ddd"
		if d == 0 {
			stroke = "#333"
		}
		fmt.Fprintf(&sb, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="%s"/>`+"\n", gx, top-4, gx, bottom, stroke)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`+"\n", gx, bottom+16, fmt.Sprint(v))
	}
	one := x(1)
	for i, q := range t.Queries {
		y := top + rowH*float64(i)
		fmt.Fprintf(&sb, `<text x="%.0f" y="%.1f" text-anchor="end">Q%d</text>`+"\n", left-8, y+barH-2, q.Query)
		if q.Ratio <= 0 {
			why := "not answered by both engines"
			if m := q.Engine[engineMantis]; m != nil && m.Error != "" {
				why = "MantisDB: " + m.Error
			} else if d := q.Engine[engineDuck]; d != nil && d.Error != "" {
				why = "DuckDB: " + d.Error
			}
			if len(why) > 90 {
				why = why[:90] + "…"
			}
			fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" fill="#999">%s</text>`+"\n", left+4, y+barH-2, html.EscapeString(why))
			continue
		}
		bx := x(q.Ratio)
		x0, w := math.Min(one, bx), math.Abs(bx-one)
		color := "#d9534f" // MantisDB slower
		if q.Ratio < 1 {
			color = "#5cb85c"
		}
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", x0, y, math.Max(w, 1), barH, color)
		label := num(q.Ratio) + "×"
		if strings.HasPrefix(q.Check, "mismatch") {
			label += " (result mismatch)"
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f">%s</text>`+"\n", math.Max(bx, one)+4, y+barH-2, html.EscapeString(label))
	}
	sb.WriteString("</svg>\n")
	return sb.String()
}
