// Package plot draws the small SVG charts of the HTML report: line charts with shaded windows and histograms with markers.
package plot
