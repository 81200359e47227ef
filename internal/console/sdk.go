package console

import (
	"context"

	"github.com/latch-auth/latch/internal/store"
)

// Public tokens and SDK origins (the frontend SDK's credentials) are
// shown here once the store has them.

func (c *Console) sdkRoutes() {}

func (c *Console) sdkData(ctx context.Context, p store.Project) (any, error) { return nil, nil }
