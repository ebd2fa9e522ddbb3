package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	adminapi "github.com/mtlslb/mtlslb/internal/admin"
)

// clientFlags are the flags of every command that talks to the admin API.
type clientFlags struct {
	admin  string
	output string
}

func (c *clientFlags) register(cmd *cobra.Command) {
	def := os.Getenv("MTLSLB_ADMIN")
	if def == "" {
		def = "127.0.0.1:9901"
	}
	cmd.PersistentFlags().StringVar(&c.admin, "admin", def, "admin API address (or set MTLSLB_ADMIN)")
	cmd.PersistentFlags().StringVarP(&c.output, "output", "o", "table", "table or json")
}

func (c *clientFlags) check() error {
	if c.output != "table" && c.output != "json" {
		return usageError{fmt.Errorf("--output: %q is not table or json", c.output)}
	}
	return nil
}

// apiError is a refusal from the admin API, printed as the API's code and message.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// call sends one request to the admin API. in is JSON-encoded unless it is []byte; a 2xx body is decoded
// into out (or copied when out is *[]byte).
func (c *clientFlags) call(method, path string, header http.Header, in, out any) (http.Header, error) {
	var body io.Reader
	contentType := ""
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
		contentType = "application/yaml"
	default:
		data, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
		contentType = "application/json"
	}
	addr := c.admin
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	req, err := http.NewRequest(method, addr+path, body)
	if err != nil {
		return nil, usageError{fmt.Errorf("--admin %q: %w", c.admin, err)}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the admin API at %s (is `mtlslb serve` running there? --admin or MTLSLB_ADMIN picks another address): %w", c.admin, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb adminapi.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return resp.Header, &apiError{status: resp.StatusCode, code: eb.Error.Code, message: eb.Error.Message}
		}
		return resp.Header, &apiError{status: resp.StatusCode, code: http.StatusText(resp.StatusCode), message: strings.TrimSpace(string(data))}
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = data
	default:
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("the admin API answered something unexpected: %w", err)
		}
	}
	return resp.Header, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// reportAPIError prints an admin API refusal plainly and turns it into exit status 1.
func reportAPIError(cmd *cobra.Command, c *clientFlags, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	if c.output == "json" {
		_ = printJSON(cmd.OutOrStdout(), map[string]any{"error": map[string]string{"code": ae.code, "message": ae.message}})
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "mtlslb: refused (%s): %s\n", ae.code, ae.message)
	}
	return failure{ExitFailed}
}
