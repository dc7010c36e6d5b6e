package main

// The status command: the running proxyplus's status through the admin API.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	adminv1 "github.com/proxyplus/proxyplus/proto/proxyplus/admin/v1"
	xdsserver "github.com/proxyplus/proxyplus/xds/server"
)

// statusDoc is the part of GetStatus's status_json (the /status endpoint's document) the table shows.
type statusDoc struct {
	XDS         *xdsserver.Status `json:"xds"`
	Definitions *struct {
		Version    string    `json:"version"`
		LastReload time.Time `json:"last_reload"`
		Error      string    `json:"error"`
		// HeldBack mirrors controlplane.HeldBack.
		HeldBack []struct {
			API             string    `json:"api"`
			Source          string    `json:"source"`
			Reason          string    `json:"reason"`
			ServingLastGood bool      `json:"serving_last_good"`
			LastGoodAt      time.Time `json:"last_good_at"`
			Since           time.Time `json:"since"`
		} `json:"held_back"`
	} `json:"definitions"`
}

func runStatus(ctx context.Context, e *env, args []string) error {
	return adminCommand(ctx, e, "status", "status [flags]", args, 0, "", nil,
		func(ctx context.Context, c *adminConn, a *adminFlags, _ []string) error {
			resp, err := c.GetStatus(ctx, &adminv1.GetStatusRequest{})
			if err != nil {
				return c.rpcError(err)
			}
			if a.output == "json" {
				return printJSON(e.stdout, resp)
			}
			var doc statusDoc
			if err := json.Unmarshal([]byte(resp.GetStatusJson()), &doc); err != nil {
				return fmt.Errorf("the status document cannot be read: %w", err)
			}
			return printStatus(e.stdout, &doc, resp.GetExtprocServing())
		})
}

func printStatus(w io.Writer, doc *statusDoc, extproc bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ep := "NOT SERVING"
	if extproc {
		ep = "SERVING"
	}
	fmt.Fprintf(tw, "ext_proc:\t%s\n", ep)
	if d := doc.Definitions; d != nil {
		line := fmt.Sprintf("version %s, last reload %s", orDash(d.Version), formatGoTime(d.LastReload))
		if d.Error != "" {
			line += ", error: " + strings.Join(strings.Fields(d.Error), " ")
		}
		fmt.Fprintf(tw, "definitions:\t%s\n", line)
		// An API held back keeps its last good version (or is not served) while the others update: name each.
		for _, h := range d.HeldBack {
			served := "NOT SERVED (no good version since start)"
			if h.ServingLastGood {
				served = "serving its last good version of " + formatGoTime(h.LastGoodAt)
			}
			fmt.Fprintf(tw, "held back:\tAPI %s (%s) since %s, %s: %s\n", orDash(h.API), h.Source, formatGoTime(h.Since),
				served, strings.Join(strings.Fields(h.Reason), " "))
		}
	}
	if doc.XDS == nil {
		fmt.Fprintln(tw, "xds:\tno xDS status reported")
		return tw.Flush()
	}
	snap := doc.XDS.Snapshot
	line := fmt.Sprintf("version %s (generation %d), published %s, %d streams", orDash(snap.Version), snap.Generation,
		formatGoTime(snap.PublishedAt), snap.Streams)
	if snap.LastError != nil {
		line += fmt.Sprintf(", last rejected %s: %s", formatGoTime(snap.LastError.At), snap.LastError.Message)
	}
	fmt.Fprintf(tw, "snapshot:\t%s\n", line)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(doc.XDS.Nodes) == 0 {
		fmt.Fprintln(w, "no Envoy node has connected")
		return nil
	}
	fmt.Fprintln(tw, "NODE\tCLUSTER\tCONNECTED\tTYPE\tACKED\tNACKS\tLAST NACK")
	for _, n := range doc.XDS.Nodes {
		state := "since " + formatGoTime(n.ConnectedSince)
		if !n.Connected {
			state = "no (disconnected " + formatGoTime(n.DisconnectedAt) + ")"
		}
		if len(n.Types) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t0\t-\n", n.ID, orDash(n.Cluster), state)
		}
		for _, t := range n.Types {
			nack := "-"
			if t.LastNack != nil {
				nack = fmt.Sprintf("%s at %s: %s", orDash(t.LastNack.RejectedVersion), formatGoTime(t.LastNack.At),
					strings.Join(strings.Fields(t.LastNack.Message), " "))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, orDash(n.Cluster), state, shortType(t.TypeURL),
				orDash(t.AckedVersion), t.NackCount, nack)
			if len(t.Resources) > 1 {
				// Split route configurations: which version of each the node runs (and last rejected).
				for _, r := range t.Resources {
					rejected := "-"
					if r.NackedVersion != "" {
						rejected = r.NackedVersion + " rejected"
					}
					fmt.Fprintf(tw, "\t\t\t  %s\t%s\t\t%s\n", r.Name, orDash(r.AckedVersion), rejected)
				}
			}
		}
	}
	return tw.Flush()
}

// shortType is "Listener" for "type.googleapis.com/envoy.config.listener.v3.Listener".
func shortType(url string) string {
	return url[strings.LastIndexByte(url, '.')+1:]
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
