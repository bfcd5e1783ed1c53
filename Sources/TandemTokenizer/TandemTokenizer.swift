// TandemTokenizer
