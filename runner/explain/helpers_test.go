package explain

import (
	"encoding/json"

	"github.com/checkpointed/checkpointed/runner/connector"
)

func connectorDecimal(s string) connector.Decimal { return connector.Decimal(s) }
func connectorJSON(s string) connector.JSON       { return connector.JSON(s) }
func jsonNumber(s string) json.Number             { return json.Number(s) }
