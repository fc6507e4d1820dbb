package server

import (
	"net/http"
	"strconv"

	segjson "github.com/segmentio/encoding/json"
	"github.com/tether-dev/tether/gen"
)

// ferniList is the Ferni list response, written like the generated
// response (the same bytes: TestFerniListEncodesLikeTheGeneratedCode)
// but with segmentio's encoder, which go-sdk already brings into the
// binary: encoding/json was a third of the cost of a list of 50.
type ferniList gen.ListMcpServers200JSONResponse

var _ gen.ListMcpServersResponseObject = ferniList{}

// VisitListMcpServersResponse implements gen.ListMcpServersResponseObject.
func (r ferniList) VisitListMcpServersResponse(w http.ResponseWriter) error {
	// About 500 bytes a row; one allocation instead of a growing buffer.
	body, err := segjson.Append(make([]byte, 0, 512+600*len(r.Data)), gen.ListMcpServers200JSONResponse(r),
		segjson.EscapeHTML|segjson.SortMapKeys) // encoding/json's defaults
	if err != nil {
		return err
	}
	body = append(body, '\n') // json.Encoder ends with a newline
	w.Header().Set("Content-Type", "application/json")
	// The whole body is at hand: sent with its length, not chunked.
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(body)
	return err
}
