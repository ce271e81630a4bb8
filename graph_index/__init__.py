"""Indexing: fact extraction, entity resolution, temporal KG (supersede rule), time tree with
summaries, incremental insert/delete (``graph_index.indexer.GraphIndexer``), KG question answering
(``graph_index.kg_qa``) and the HopRAG passage graph (``graph_index.passage_graph``)."""
