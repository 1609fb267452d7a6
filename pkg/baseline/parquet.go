package baseline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/normwatch/normwatch/pkg/sketch"
)

// parquetColumn is a top-level column of a Parquet file chosen for the
// baseline: a numeric leaf as a feature, or a list of floats as an
// embedding.
type parquetColumn struct {
	name     string
	leaf     *parquet.Column
	kind     parquet.Kind
	unsigned bool
	feature  *featureAcc
	vector   *sketch.Vector
	act      *sketch.Activation // nil unless an activation field
}

// buildParquet reads the chosen columns of every row group, a column at a
// time and a page at a time: memory is one page per column, whatever the
// file's size. A feature's values go into its sketch in row order, as in
// the other formats, so the same data makes the same sketches.
func buildParquet(ctx context.Context, f io.ReaderAt, size int64, a *accumulator) error {
	pf, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		if size == 0 {
			return fmt.Errorf("%s: %w: the file is empty", a.path, ErrEmptyInput)
		}
		return fmt.Errorf("%s: not a readable Parquet file (truncated or corrupt?): %w", a.path, err)
	}
	var names []string
	byName := map[string]*parquet.Column{}
	index := pandasIndex(pf)
	var skipped []string
	for _, c := range pf.Root().Columns() {
		if index[c.Name()] && !listed(c.Name(), a.opts.Features) && !listed(c.Name(), a.opts.Embeddings) {
			skipped = append(skipped, c.Name())
			continue
		}
		names = append(names, c.Name())
		byName[c.Name()] = c
	}
	if len(skipped) > 0 {
		a.report.Notes = append(a.report.Notes, fmt.Sprintf("%s: left out the pandas index column%s %s (named in the file's pandas metadata); DataFrame.to_parquet(path, index=False) writes none",
			a.path, plural(len(skipped)), strings.Join(skipped, ", ")))
	}
	var cols []*parquetColumn
	pick := func(want []string, asEmbedding bool) error {
		for _, n := range want {
			c, ok := byName[n]
			if !ok {
				return fmt.Errorf("%s: requested column %q is not in the file (columns: %s)", a.path, n, strings.Join(names, ", "))
			}
			pc, why := classifyParquet(c, asEmbedding)
			if pc == nil {
				return fmt.Errorf("%s: column %q: %s", a.path, n, why)
			}
			cols = append(cols, pc)
		}
		return nil
	}
	if err := pick(a.opts.Features, false); err != nil {
		return err
	}
	if err := pick(a.opts.Embeddings, true); err != nil {
		return err
	}
	for _, c := range pf.Root().Columns() {
		if _, kept := byName[c.Name()]; !kept {
			continue
		}
		if a.opts.Features == nil {
			if pc, _ := classifyParquet(c, false); pc != nil && !listed(c.Name(), a.opts.Embeddings) {
				cols = append(cols, pc)
				continue
			}
		}
		if a.opts.Embeddings == nil {
			if pc, _ := classifyParquet(c, true); pc != nil && !listed(c.Name(), a.opts.Features) {
				cols = append(cols, pc)
			}
		}
	}
	if len(cols) == 0 {
		return fmt.Errorf("%s: %w: no float, double, integer or list-of-float column among %s", a.path, ErrEmptyInput, strings.Join(names, ", "))
	}
	if pf.NumRows() == 0 {
		return fmt.Errorf("%s: %w: the file has no rows", a.path, ErrEmptyInput)
	}
	for _, c := range cols {
		if c.vector != nil {
			continue
		}
		if c.leaf.Repeated() || c.leaf.MaxRepetitionLevel() > 0 {
			c.vector = a.embedding(c.name)
			c.act = a.activationFor(c.name)
		} else {
			c.feature = a.feature(c.name)
		}
	}
	var rowBase int64
	buf := make([]parquet.Value, 4096)
	for gi, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		for _, c := range cols {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := readParquetChunk(chunks[c.leaf.Index()], c, rowBase, rg.NumRows(), buf, a); err != nil {
				return fmt.Errorf("%s: row group %d, column %q: %w", a.path, gi, c.name, err)
			}
		}
		n := uint64(rg.NumRows())
		a.report.Rows += n
		a.report.Used += n
		if a.opts.Progress != nil {
			a.progress()
		}
		rowBase += rg.NumRows()
	}
	return nil
}

// pandasIndex returns the columns that the file's pandas metadata names
// as the DataFrame's index (index_columns; a RangeIndex is stored as
// metadata only and has no column). pandas writes the index by default,
// as __index_level_0__ or under the index's name: a row number, or an id,
// never a feature.
func pandasIndex(pf *parquet.File) map[string]bool {
	meta, ok := pf.Lookup("pandas")
	if !ok {
		return nil
	}
	var m struct {
		IndexColumns []json.RawMessage `json:"index_columns"`
	}
	if json.Unmarshal([]byte(meta), &m) != nil {
		return nil
	}
	out := map[string]bool{}
	for _, raw := range m.IndexColumns {
		var name string
		if json.Unmarshal(raw, &name) == nil {
			out[name] = true
		}
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func listed(name string, names []string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// classifyParquet returns the column as a feature (a numeric leaf) or an
// embedding (a list or repeated leaf of floats), or why it is neither.
func classifyParquet(c *parquet.Column, asEmbedding bool) (*parquetColumn, string) {
	leaf := c
	if !asEmbedding {
		if !c.Leaf() {
			return nil, "a group or list, not a numeric column"
		}
		if c.Repeated() {
			return nil, "a repeated column, not a numeric one"
		}
	} else {
		for !leaf.Leaf() {
			kids := leaf.Columns()
			if len(kids) != 1 {
				return nil, "a group of several columns, not a list of floats"
			}
			leaf = kids[0]
		}
		if leaf.MaxRepetitionLevel() != 1 {
			return nil, "not a list of floats"
		}
	}
	t := leaf.Type()
	pc := &parquetColumn{name: c.Name(), leaf: leaf, kind: t.Kind()}
	switch lt := t.LogicalType(); {
	case lt == nil || lt.Value == nil:
	default:
		it, ok := lt.Value.(*format.IntType)
		if !ok {
			return nil, fmt.Sprintf("logical type %s is not a number normwatch summarizes", lt)
		}
		pc.unsigned = !it.IsSigned
	}
	switch t.Kind() {
	case parquet.Float, parquet.Double:
	case parquet.Int32, parquet.Int64:
		if asEmbedding {
			return nil, "a list of integers, not of floats"
		}
	default:
		return nil, fmt.Sprintf("physical type %s is not float, double or integer", t.Kind())
	}
	return pc, ""
}

func readParquetChunk(chunk parquet.ColumnChunk, c *parquetColumn, rowBase, numRows int64, buf []parquet.Value, a *accumulator) error {
	pages := chunk.Pages()
	defer pages.Close()
	maxDef := c.leaf.MaxDefinitionLevel()
	nullElemDef := -1 // definition level of a null list element
	if c.leaf.Optional() {
		nullElemDef = maxDef - 1
	}
	row := rowBase - 1
	var vec []float32
	inVec, badVec := false, false
	flush := func() {
		if inVec && !badVec && len(vec) > 0 {
			c.vector.Add(vec)
			if c.act != nil {
				c.act.Add(vec)
			}
		}
		vec, inVec, badVec = vec[:0], false, false
	}
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		vr := page.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				if c.feature != nil {
					row++
					c.feature.seen++
					if v.IsNull() {
						c.feature.sk.AddMissing(1)
						continue
					}
					c.feature.sk.Add(c.float(v))
					continue
				}
				if v.RepetitionLevel() == 0 {
					flush()
					row++
				}
				switch d := v.DefinitionLevel(); {
				case d == maxDef:
					inVec = true
					vec = append(vec, float32(c.float(v)))
				case d == nullElemDef:
					inVec = true
					if !badVec {
						a.skipValue(SkipBadEmbedding, row+1, c.name, "a null element")
					}
					badVec = true
				default: // a null or empty list: missing
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				parquet.Release(page)
				return err
			}
		}
		parquet.Release(page)
	}
	if c.vector != nil {
		flush()
	}
	if got := row - rowBase + 1; got != numRows {
		return fmt.Errorf("the column chunk holds %d rows, its row group %d", got, numRows)
	}
	return nil
}

func (c *parquetColumn) float(v parquet.Value) float64 {
	switch c.kind {
	case parquet.Double:
		return v.Double()
	case parquet.Float:
		return float64(v.Float())
	case parquet.Int32:
		if c.unsigned {
			return float64(uint32(v.Int32()))
		}
		return float64(v.Int32())
	default:
		if c.unsigned {
			return float64(uint64(v.Int64()))
		}
		return float64(v.Int64())
	}
}
