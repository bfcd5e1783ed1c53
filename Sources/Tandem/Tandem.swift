// Tandem
