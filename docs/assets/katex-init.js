// Typeset the maths that pymdownx.arithmatex (generic mode) leaves as \( \) and \[ \]
// spans, with the KaTeX copy vendored beside this file: no network needed. Material's
// document$ re-runs it after instant navigation.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
