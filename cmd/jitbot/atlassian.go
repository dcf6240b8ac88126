package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jitbot/jitbot/provisioner"
	"github.com/jitbot/jitbot/provisioner/atlassian"
	"github.com/jitbot/jitbot/provisioner/atlassianadmin"
	"github.com/jitbot/jitbot/provisioner/jira"
	"go.uber.org/zap"
)

// The Atlassian providers, configured from the environment:
//
//	ATLASSIAN_SITE_URL       jira: the site, https://example.atlassian.net (required)
//	ATLASSIAN_EMAIL          jira: the email of the site admin jitbot acts as (required)
//	ATLASSIAN_API_TOKEN      jira: that user's API token (required)
//	ATLASSIAN_API_URL        atlassian-admin: default https://api.atlassian.com
//	ATLASSIAN_ORG_ID         atlassian-admin: the organisation id (required)
//	ATLASSIAN_ADMIN_API_KEY  atlassian-admin: an organisation API key (required)
//	ATLASSIAN_DIRECTORY_ID   atlassian-admin: default "-" (every directory the key manages)
//	ATLASSIAN_RATE           the most requests a second per API (optional: the pace is learnt from the API's answers)
//	ATLASSIAN_TIMEOUT        timeout of each HTTP attempt, default 30s

// accountCache is the store's account id cache (nil for the CLI's check).
type accountCache interface {
	GetAccount(ctx context.Context, provider, email string) (string, bool, error)
	PutAccount(ctx context.Context, provider, email, accountID string) error
}

// atlassianProvider builds the jira or atlassian-admin provider from the
// environment. A missing or bad setting is one error naming the variables.
func atlassianProvider(getenv func(string) string, name string, cache accountCache, log *zap.Logger) (liveProvider, error) {
	env := func(key string) string { return strings.TrimSpace(getenv(key)) }
	var problems []string
	require := func(key, what string) string {
		v := env(key)
		if v == "" {
			problems = append(problems, fmt.Sprintf("%s is not set (%s)", key, what))
		}
		return v
	}
	transport := atlassian.Options{Timeout: atlassian.DefaultTimeout}
	if v := env("ATLASSIAN_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			problems = append(problems, fmt.Sprintf("ATLASSIAN_RATE=%q is not a positive number of requests per second", v))
		}
		transport.Rate = r
	}
	if d, err := parseDurationSetting("ATLASSIAN_TIMEOUT", env("ATLASSIAN_TIMEOUT"), transport.Timeout, false); err != nil {
		problems = append(problems, err.Error())
	} else {
		transport.Timeout = d
	}
	var (
		p   liveProvider
		err error
	)
	switch name {
	case provisioner.NameJira:
		site := require("ATLASSIAN_SITE_URL", "the Jira Cloud site, such as https://example.atlassian.net")
		email := require("ATLASSIAN_EMAIL", "the email of the site admin jitbot acts as")
		token := require("ATLASSIAN_API_TOKEN", "that user's API token")
		if site != "" {
			if msg := checkURL("ATLASSIAN_SITE_URL", site); msg != "" {
				problems = append(problems, msg)
			}
		}
		if len(problems) > 0 {
			break
		}
		var j *jira.Provider
		cfg := jira.Config{SiteURL: site, Email: email, Token: atlassian.Secret(token), Log: log, Transport: transport}
		if cache != nil {
			cfg.Cache = cache
		}
		j, err = jira.New(cfg)
		p = j
	case provisioner.NameAtlassianAdmin:
		api := env("ATLASSIAN_API_URL")
		if api == "" {
			api = atlassianadmin.DefaultAPIURL
		}
		if msg := checkURL("ATLASSIAN_API_URL", api); msg != "" {
			problems = append(problems, msg)
		}
		org := require("ATLASSIAN_ORG_ID", "the organisation id from admin.atlassian.com")
		key := require("ATLASSIAN_ADMIN_API_KEY", "an organisation API key")
		if len(problems) > 0 {
			break
		}
		var a *atlassianadmin.Provider
		cfg := atlassianadmin.Config{APIURL: api, OrgID: org, DirectoryID: env("ATLASSIAN_DIRECTORY_ID"), APIKey: atlassian.Secret(key),
			Log: log, Transport: transport}
		if cache != nil {
			cfg.Cache = cache
		}
		a, err = atlassianadmin.New(cfg)
		p = a
	default:
		return nil, fmt.Errorf("provider %s is not an Atlassian provider", name)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("provider %s: %s", name, strings.Join(problems, "; "))
	}
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", name, err)
	}
	return p, nil
}

// checkURL insists on https, so a token never crosses the network in the
// clear; plain http is allowed to a loopback address (a local test site).
// The rule is the transport's own, which enforces it again.
func checkURL(key, v string) string {
	if err := atlassian.CheckBaseURL(key, v); err != nil {
		return err.Error()
	}
	return ""
}
