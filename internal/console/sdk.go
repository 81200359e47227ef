package console

import (
	"context"
	"errors"
	"net/http"

	"github.com/latch-auth/latch/internal/store"
)

// The frontend SDK's credentials of a project: its public token (not a
// secret: it is in the app's pages) and the origins whose pages may use it.

type sdkData struct {
	PublicToken  string // "" when the project has none yet (made before public tokens)
	Origins      []store.SDKOrigin
	PKCERequired bool
}

func (c *Console) sdkRoutes() {
	c.mux.HandleFunc("POST /console/projects/{pid}/sdk-origins", c.signedIn(c.withProject(c.addSDKOrigin)))
	c.mux.HandleFunc("POST /console/projects/{pid}/sdk-origins/remove", c.signedIn(c.withProject(c.removeSDKOrigin)))
	c.mux.HandleFunc("POST /console/projects/{pid}/sdk-settings", c.signedIn(c.withProject(c.saveSDKSettings)))
}

// sdkData reads without writing: a project without a public token gets one
// when the SDK or `latch project list` first asks, not when a page is read.
func (c *Console) sdkData(ctx context.Context, p store.Project) (any, error) {
	st := c.svc.Store()
	var d sdkData
	t, err := st.GetPublicToken(ctx, p.ID)
	switch {
	case err == nil:
		d.PublicToken = t
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	if d.Origins, err = c.svc.SDKOrigins(ctx, p.ID); err != nil {
		return nil, err
	}
	if d.PKCERequired, err = c.svc.SDKPKCERequired(ctx, p); err != nil {
		return nil, err
	}
	return d, nil
}

func (c *Console) addSDKOrigin(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	o, err := c.svc.AddSDKOrigin(r.Context(), p.ID, r.PostForm.Get("origin"))
	if err != nil {
		c.fail(w, r, v, asInput(err))
		return
	}
	c.audit(r, v.Session.Email, "sdk-origin.add", p.ID+" "+o)
	c.showProject(w, r, v, p, nil, "Origin "+o+" may now use the public token.")
}

func (c *Console) removeSDKOrigin(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	o, err := c.svc.RemoveSDKOrigin(r.Context(), p.ID, r.PostForm.Get("origin"))
	if err != nil {
		c.fail(w, r, v, asInput(err))
		return
	}
	c.audit(r, v.Session.Email, "sdk-origin.remove", p.ID+" "+o)
	c.showProject(w, r, v, p, nil, "Origin "+o+" removed.")
}

func (c *Console) saveSDKSettings(w http.ResponseWriter, r *http.Request, v *visit, p store.Project) {
	on := r.PostForm.Get("pkce_required") == "on"
	if err := c.svc.SetSDKPKCERequired(r.Context(), p, on); err != nil {
		c.fail(w, r, v, err)
		return
	}
	state := "off"
	if on {
		state = "on"
	}
	c.audit(r, v.Session.Email, "sdk-settings", p.ID+" pkce_required="+state)
	c.showProject(w, r, v, p, nil, "PKCE for the SDK's email magic links is "+state+".")
}
