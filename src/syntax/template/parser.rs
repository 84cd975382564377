//! The parser: builds the block tree from the token list, counting nesting (`MAX_NESTING`) and
//! chaining `{{else if …}}` links as handlebars.js's grammar does.

use super::*;

pub(super) struct Parser {
    pub(super) tokens: Vec<Token>,
    pub(super) position: usize,
    /// Blocks and `else if` links open around the current position (at most `MAX_NESTING`).
    pub(super) depth: usize,
}

impl Parser {
    /// Parses statements until a token that ends a program (`{{else}}`, `{{/x}}`) or the end.
    pub(super) fn program(&mut self) -> Result<Program, SyntaxError> {
        let mut body = Vec::new();
        while let Some(token) = self.tokens.get_mut(self.position) {
            let span = token.span.clone();
            match &mut token.kind {
                TokenKind::Text => {
                    body.push(Node::Text(Text {
                        original: span.clone(),
                        value: span,
                        left_stripped: false,
                        right_stripped: false,
                    }));
                    self.position += 1;
                }
                TokenKind::Comment { strip } => {
                    body.push(Node::Comment(Comment { span, strip: *strip }));
                    self.position += 1;
                }
                TokenKind::Mustache { call, strip } => {
                    let call = std::mem::replace(call, empty_call());
                    body.push(Node::Mustache(Mustache { span, call, strip: *strip }));
                    self.position += 1;
                }
                TokenKind::Open { call, block_params, strip } => {
                    let call = std::mem::replace(call, empty_call());
                    let block_params = std::mem::take(block_params);
                    let open_strip = *strip;
                    self.position += 1;
                    let block = self.block(span, call, block_params, open_strip)?;
                    body.push(Node::Block(Box::new(block)));
                }
                TokenKind::Else { .. } | TokenKind::ElseChain { .. } | TokenKind::Close { .. } => {
                    break
                }
            }
        }
        Ok(Program { body, chained: false, block_params: Vec::new() })
    }

    /// Parses a block's body after its opening tag, through its closing tag.
    pub(super) fn block(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
    ) -> Result<Block, SyntaxError> {
        if self.depth == MAX_NESTING {
            return Err(too_deep(span, false));
        }
        self.depth += 1;
        let block = self.block_inner(span, call, block_params, open_strip);
        self.depth -= 1;
        block
    }

    pub(super) fn block_inner(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
    ) -> Result<Block, SyntaxError> {
        let name = call.head.original.clone();
        let mut program = self.program()?;
        program.block_params = block_params;
        if let Some(link) = self.take_chain_link() {
            let inverse_strip = link.strip;
            // The chained block ends at this block's closing tag, which it consumes and reports.
            let (inverse, close_span, close_strip) = self.chain_link(link, true, &name, &span)?;
            return Ok(Block {
                span,
                call,
                program,
                inverse: Some(inverse),
                open_strip,
                inverse_strip,
                close_strip,
                close_span,
            });
        }
        let mut inverse = None;
        let mut inverse_strip = Strip::default();
        let Some(next) = self.tokens.get(self.position) else {
            return Err(error(
                span,
                format!("`{{{{#{name}}}}}` is never closed"),
                "opened here",
                Some(format!("add `{{{{/{name}}}}}` where the block ends")),
            ));
        };
        if let TokenKind::Else { strip } = next.kind {
            inverse_strip = strip;
            self.position += 1;
            inverse = Some(self.program()?);
        }
        self.close(span, call, program, inverse, open_strip, inverse_strip, &name)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn close(
        &mut self,
        span: Range<usize>,
        call: Call,
        program: Program,
        inverse: Option<Program>,
        open_strip: Strip,
        inverse_strip: Strip,
        name: &str,
    ) -> Result<Block, SyntaxError> {
        match self.tokens.get(self.position) {
            Some(Token {
                span: close_span,
                kind: TokenKind::Close { name: close_name, strip: close_strip },
            }) => {
                if close_name != name {
                    return Err(error(
                        close_span.clone(),
                        format!("`{{{{/{close_name}}}}}` does not match the open block `{{{{#{name}}}}}`"),
                        "mismatched closing tag",
                        Some(format!("close `{{{{#{name}}}}}` with `{{{{/{name}}}}}` first")),
                    ));
                }
                let close_span = close_span.clone();
                let close_strip = *close_strip;
                self.position += 1;
                Ok(Block {
                    span,
                    call,
                    program,
                    inverse,
                    open_strip,
                    inverse_strip,
                    close_strip,
                    close_span,
                })
            }
            Some(Token {
                span: else_span,
                kind: TokenKind::Else { .. } | TokenKind::ElseChain { .. },
            }) => Err(error(
                else_span.clone(),
                format!("a second `{{{{else}}}}` in `{{{{#{name}}}}}`"),
                "one `{{else}}` per block",
                Some("use `{{else if …}}` for a chain".into()),
            )),
            _ => Err(error(
                span,
                format!("`{{{{#{name}}}}}` is never closed"),
                "opened here",
                Some(format!("add `{{{{/{name}}}}}` where the block ends")),
            )),
        }
    }

    pub(super) fn chained_block(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
        outer_name: &str,
        outer_span: &Range<usize>,
    ) -> Result<(Block, Strip), SyntaxError> {
        if self.depth == MAX_NESTING {
            return Err(too_deep(span, true));
        }
        self.depth += 1;
        let block =
            self.chained_block_inner(span, call, block_params, open_strip, outer_name, outer_span);
        self.depth -= 1;
        block
    }

    /// Parses one `{{else if …}}` link through the chain's closing tag. Returns the block and
    /// the closing tag's strip (`chain_link` sets the block's own closing strip).
    pub(super) fn chained_block_inner(
        &mut self,
        span: Range<usize>,
        call: Call,
        block_params: Vec<String>,
        open_strip: Strip,
        outer_name: &str,
        outer_span: &Range<usize>,
    ) -> Result<(Block, Strip), SyntaxError> {
        let mut program = self.program()?;
        program.block_params = block_params;
        if let Some(link) = self.take_chain_link() {
            let inverse_strip = link.strip;
            let (inverse, close_span, close_strip) =
                self.chain_link(link, false, outer_name, outer_span)?;
            let block = Block {
                span,
                call,
                program,
                inverse: Some(inverse),
                open_strip,
                inverse_strip,
                close_strip,
                close_span,
            };
            return Ok((block, close_strip));
        }
        match self.tokens.get_mut(self.position) {
            Some(Token { kind: TokenKind::Else { strip }, .. }) => {
                let inverse_strip = *strip;
                self.position += 1;
                let inverse = self.program()?;
                self.close(
                    span,
                    call,
                    program,
                    Some(inverse),
                    open_strip,
                    inverse_strip,
                    outer_name,
                )
                .map(|block| {
                    let close_strip = block.close_strip;
                    (block, close_strip)
                })
                .map_err(|e| retarget_unclosed(e, outer_span, outer_name))
            }
            _ => self
                .close(span, call, program, None, open_strip, Strip::default(), outer_name)
                .map(|block| {
                    let close_strip = block.close_strip;
                    (block, close_strip)
                })
                .map_err(|e| retarget_unclosed(e, outer_span, outer_name)),
        }
    }
}

/// An `{{else if …}}` token taken out of the token list.
pub(super) struct ChainLink {
    span: Range<usize>,
    call: Call,
    block_params: Vec<String>,
    strip: Strip,
}

impl Parser {
    /// Takes the current token when it opens an `{{else if …}}` link.
    fn take_chain_link(&mut self) -> Option<ChainLink> {
        let token = self.tokens.get_mut(self.position)?;
        let TokenKind::ElseChain { call, block_params, strip } = &mut token.kind else {
            return None;
        };
        let link = ChainLink {
            span: token.span.clone(),
            call: std::mem::replace(call, empty_call()),
            block_params: std::mem::take(block_params),
            strip: *strip,
        };
        self.position += 1;
        Some(link)
    }

    /// Parses `link` through the chain's closing tag: the inverse program holding it, and the
    /// closing tag's span and strip. As in handlebars.js's parser (`prepareBlock` gives each link
    /// the strip of what follows it, then the link before overwrites it), the first link closes
    /// with the closing tag's strip and every later one with its own opening tag's, so a `~`
    /// opening a later link strips the end of that link's last part too.
    fn chain_link(
        &mut self,
        link: ChainLink,
        first: bool,
        outer_name: &str,
        outer_span: &Range<usize>,
    ) -> Result<(Program, Range<usize>, Strip), SyntaxError> {
        let own_strip = link.strip;
        let (mut chained, close_strip) = self.chained_block(
            link.span,
            link.call,
            link.block_params,
            link.strip,
            outer_name,
            outer_span,
        )?;
        chained.close_strip = if first { close_strip } else { own_strip };
        let close_span = chained.close_span.clone();
        let inverse = Program {
            body: vec![Node::Block(Box::new(chained))],
            chained: true,
            block_params: Vec::new(),
        };
        Ok((inverse, close_span, close_strip))
    }
}

pub(super) fn retarget_unclosed(
    mut error: SyntaxError,
    outer_span: &Range<usize>,
    outer_name: &str,
) -> SyntaxError {
    if error.label == "opened here" {
        error.span = outer_span.clone();
        error.message = format!("`{{{{#{outer_name}}}}}` is never closed");
    }
    error
}

pub(super) fn empty_call() -> Call {
    Call {
        head: Path {
            span: 0..0,
            data: false,
            depth: 0,
            scoped: false,
            segments: Vec::new(),
            original: String::new(),
        },
        params: Vec::new(),
    }
}
