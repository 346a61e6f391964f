package httpapi

import (
	"fmt"
	"net/url"
	"strings"
)

// placeholders are the template parts replaced before a URL template is parsed.
var placeholders = strings.NewReplacer("{key}", "x", "{id}", "x", "{ids}", "x", "{from}", "x", "{to}", "x", "{value}", "x")

// sameOrigin requires the URL template tpl of field to be on base's scheme and host (port
// included): requests to it carry the connector's credentials, so that they never reach
// another host, like next-page links and lookups. Both are templates; "" is not checked.
func sameOrigin(field, tpl, base string) error {
	if tpl == "" {
		return nil
	}
	b, err := url.Parse(placeholders.Replace(base))
	if err != nil {
		return fmt.Errorf("%s: the base url is not a valid URL", field)
	}
	u, err := url.Parse(placeholders.Replace(tpl))
	if err != nil {
		return fmt.Errorf("%s is not a valid URL", field)
	}
	if !strings.EqualFold(u.Scheme, b.Scheme) || !strings.EqualFold(u.Host, b.Host) {
		return fmt.Errorf("%s must be on %s://%s like url, not on %s://%s: its requests carry the connector's credentials",
			field, b.Scheme, b.Host, u.Scheme, u.Host)
	}
	return nil
}
